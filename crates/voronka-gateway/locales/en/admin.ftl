# Process designer and administration pages.

## Process designer
des-title = Processes
des-intro = Published sales processes. Edit one to check a draft, see its diagram and what it would have done to the real deals before publishing.
des-new-draft = New process
des-none = No process is published yet.
des-versions = Versions
des-stage-count = { $count ->
    [one] { $count } stage
   *[other] { $count } stages
}
des-edit = Edit
des-edit-title = Process { $name }
des-back = All processes
des-published = Published { $name }, version { $version }.
des-yaml = Definition (YAML)
des-yaml-hint = Raise "version:" to publish a change. "Check" validates the text, draws the diagram and replays the real deals under the draft.
des-problems = Problems
des-valid = No problems: the draft is valid.
des-not-checked = Not checked yet.
des-error-count = { $count ->
    [one] { $count } error
   *[other] { $count } errors
}
des-warning = warning
des-check = Check and simulate
des-publish = Publish
des-diagram = Diagram
des-diagram-label = Stages and transitions of { $name }
des-terminal = final
des-transitions = { $count ->
    [one] { $count } transition
   *[other] { $count } transitions
}
des-changed-under-you = Someone published version { $latest } while you were editing version { $base }. Open the process again to see their change; your text is kept below.
des-version-not-newer = This version number is already taken: the latest published version is { $latest }. Raise "version:" above it.
des-sim-title = What-if on the real history
des-sim-summary = Replayed { $deals } deals of { $process }: { $blocked } would have been blocked.
des-sim-none = The draft would have blocked none of them.
des-sim-deal = Deal { $id }
des-sim-removed-target = The draft has no such stage.
des-sim-blocked = Deals the draft would have blocked
des-sim-more = And { $count } more.
des-sim-stranded = Deals in stages the draft removes
des-sim-skipped = { $count } recorded facts do not fit the draft and were skipped.
des-sim-funnel = Deals that entered each stage
des-stage = Stage
des-sim-before = As recorded
des-sim-after = Under the draft
des-sim-removed = (removed)

## Administration
adm-users = Users
adm-users-hint = Add users, change their roles, deactivate those who left.
adm-roles = Roles and rights
adm-roles-hint = What each role may do.
adm-departments = Departments
adm-departments-hint = The department tree; heads see their subtree.
adm-dictionaries = Dictionaries
adm-dictionaries-hint = The closed lists users pick values from.
adm-plans = Plans
adm-plans-hint = Targets per manager or department for a month or a week.
adm-processes-hint = Edit, check and publish sales processes.
adm-done-added = The user was added. They can sign in now.
adm-done-roles = The roles were changed.
adm-done-deactivated = The user was deactivated.
adm-done-department = The department was added.
adm-done-saved = The plan was saved.
adm-user-add = Add a user
adm-user-name = Name
adm-user-login = Login (e-mail)
adm-user-password = Password
adm-user-department = Department
adm-user-roles = Roles
adm-user-add-submit = Add the user
adm-user-count = { $count ->
    [one] { $count } user
   *[other] { $count } users
}
adm-user-inactive = deactivated
adm-user-change-roles = Change roles
adm-user-save-roles = Save roles
adm-user-deactivate = Deactivate
adm-user-deactivate-label = Deactivate { $name }
adm-role-administrator = Administrator
adm-role-director = Director
adm-role-head-of-sales = Head of sales
adm-role-head-of-department = Head of department
adm-role-manager = Manager
adm-role-operator = Operator
adm-role-process-designer = Process designer
adm-role-analyst = Analyst
adm-role-integrator = Integrator
adm-error-email-invalid = The login must be an e-mail address.
adm-error-email-taken = A user with this e-mail already exists.
adm-error-display-name-invalid = Enter a name (up to 200 characters).
adm-error-roles-empty = Choose at least one role.
adm-error-password-too-short = The password is too short.
adm-error-password-too-long = The password is too long.
adm-error-password-single-repeated-character = The password must not be one character repeated.
adm-error-password-equals-email = The password must not be the e-mail.
adm-error-department-name-invalid = Enter a department name (up to 200 characters).
adm-error-department-name-taken = A department with this name already exists there.
adm-error-department-unknown = Choose a department.
adm-error-directory-conflict = Someone changed the users at the same time. Try again.
adm-roles-intro = Rights are the same on pages and in the API. "Department" means the user's department and those below it.
adm-right = Right
adm-action-see-sales-record = See deals, companies, activities
adm-action-see-contact-personal-data = See contacts' personal data
adm-action-edit-contact-personal-data = Edit contacts' personal data
adm-action-log-activity = Log calls and meetings
adm-action-step-deal = Move deals through stages
adm-action-edit-sales-record = Create and change sales records
adm-action-manage-catalog = Manage the product catalog
adm-action-read-event-log = Read the event feed
adm-action-publish-process = Publish processes
adm-action-manage-users = Manage users and departments
adm-action-read-reports = Read reports
adm-action-set-plans = Set plans
adm-action-manage-webhooks = Manage webhooks
adm-action-read-own-notifications = Read own notifications
adm-grant-all = all
adm-grant-department = department
adm-grant-own = own
adm-grant-none = none
adm-department-tree = Department tree
adm-department-add = Add a department
adm-department-name = Name
adm-department-parent = Parent department
adm-department-add-submit = Add the department
adm-members = { $count ->
    [one] { $count } user
   *[other] { $count } users
}
adm-dictionaries-intro = The standard dictionaries are built into Voronka; a process's own dictionaries are changed in its definition (Processes).
adm-dictionaries-standard = Standard dictionaries
adm-dictionaries-of = Dictionaries of { $process }
adm-dictionary-value = Value
adm-plans-intro = A plan sets targets for a manager or a department for one month or one ISO week. Empty fields keep their current targets.
adm-plan-scope = Manager or department
adm-plan-managers = Managers
adm-plan-departments = Departments
adm-plan-period = Period
adm-plan-month = Month
adm-plan-week = Week
adm-plan-start = Period start
adm-plan-start-hint = Any day of the period: a month starts on its first day, a week on its Monday.
adm-plan-targets = Targets
adm-plan-save = Save the plan
adm-metric-calls-made = Calls made
adm-metric-calls-reached = Calls that reached the client
adm-metric-meetings-held = Meetings held
adm-metric-proposals-sent = Proposals sent
adm-metric-invoices-issued = Invoices issued
adm-metric-deals-won = Deals won
adm-metric-revenue-won = Revenue won, ₽
adm-metric-new-contacts = New contacts
adm-plan-error-scope = Choose a manager or a department.
adm-plan-error-period = Choose a month or a week.
adm-plan-error-start = Enter the period's start date.
adm-plan-error-target = { $metric }: enter a whole number, 0 or more.
adm-plan-error-no-targets = Enter at least one target.
