## Integrations: imports, mailings

nav-integrations = Integrations
int-imports-hint = Load companies, contacts, deals or activities from a CSV file: check it first, then import.
int-mailings-hint = Segments of contacts and e-mail mailings to them.

field-mapping = Mapping
field-file = File
field-columns = Columns
field-job = Import
field-body = Text
field-filter-q = Search

imp-title = Import
imp-intro = Upload a CSV export (UTF-8 or Windows-1251, ";" or ","). "Check" shows what would be created, the duplicates and the invalid rows by line and column, and writes nothing; the checked file can then be imported from its report.
imp-file = CSV file
imp-file-hint = At most 64 MiB.
imp-kind = What the file holds
imp-kind-companies = Companies
imp-kind-contacts = Contacts
imp-kind-deals = Deals
imp-kind-activities = Activities
imp-mapping = Saved mapping
imp-new-mapping = New or changed mapping
imp-new-mapping-hint = Optional. One "Header = field" a line; it is saved under the name and used for this file instead of the saved mapping chosen above.
imp-mapping-name = Mapping name
imp-pairs = Columns (Header = field)
imp-fields = Fields of each kind
imp-check = Check (dry run)
imp-run = Import
imp-saved = Saved mappings
imp-saved-none = No mapping is saved yet.
imp-header = Column in the file
imp-field = Field
imp-mapping-edit = Edit
imp-mapping-delete = Delete
imp-mapping-delete-label = Delete the mapping { $name }
imp-mapping-deleted = The mapping is deleted.
imp-error-kind = Choose what the file holds.
imp-error-file = Choose a non-empty CSV file.
imp-error-pair = Columns, line { $line }: write "Header = field".
imp-error-new-name = Name the new mapping.
imp-error-mapping = Choose a saved mapping or type the columns.
imp-job-check-title = Check of { $file }
imp-job-run-title = Import of { $file }
imp-back = Back to import
imp-status = Status
imp-status-running = Running…
imp-status-finished = Finished
imp-status-failed = The file was refused
imp-progress = Progress
imp-progress-rows = { $done } of { $total } rows
imp-refresh = Refresh
imp-file-refused = The file cannot be imported:
imp-run-checked-hint = { $count ->
    [one] Nothing is written yet. Import this file now with the same columns: { $count } record will be created.
   *[other] Nothing is written yet. Import this file now with the same columns: { $count } records will be created.
}
imp-run-checked = Import the checked file
imp-see-run = See the import of this file
imp-rows = Rows read
imp-would-create = Would be created
imp-created = Created
imp-already = Already imported before
imp-duplicates = Duplicates
imp-invalid = Invalid rows
imp-encoding = Encoding and delimiter
imp-line = Line
imp-column = Column
imp-reason = Reason
imp-duplicate-of = Looks like
imp-same-as-line = line { $line } of this file
imp-existing = a record already in the base

mail-title = Mailings
mail-mailings = Mailings
mail-mailings-none = No mailing yet.
mail-new = New mailing
mail-needs-segment = Create a segment first: a mailing goes to a segment's contacts.
mail-body = Text
mail-body-hint = Plain text; placeholders:
mail-segment = Segment
mail-create = Create the draft
mail-segments = Segments
mail-segments-none = No segment yet.
mail-segment-new = New segment
mail-segment-name = Segment name
mail-segment-create = Save the segment
mail-segment-title = Segment { $name }
mail-segment-delete = Delete the segment
mail-segment-deleted = deleted
mail-done-segment-deleted = The segment is deleted.
mail-filter-q = Search text
mail-filter-all = All contacts with consent and an e-mail
mail-status-draft = Draft
mail-status-sending = Sending…
mail-status-finished = Sent
mail-progress = sent { $sent }, skipped { $skipped }, failed { $failed } of { $total }
mail-outcome = Outcome
mail-back = All mailings and segments
mail-recipients = { $count ->
    [one] Reaches { $count } contact now
   *[other] Reaches { $count } contacts now
}
mail-recipients-none = Nobody you see matches with consent to mailings and an e-mail.
mail-recipients-more = …and { $count } more.
mail-send = Send now
mail-error-unknown = { $field }: not one of the choices.
mail-error-no-smtp = E-mail is not configured on this server (voronka serve --smtp): the mailing cannot be sent.

int-forms-hint = Website lead forms: the address a site posts to and the HTML to paste.
int-webhooks-hint = Events sent to other systems as they happen, with the delivery log.

lf-title = Lead forms
lf-list = Forms
lf-none = No form yet.
lf-accepted = { $count ->
    [one] { $count } lead
   *[other] { $count } leads
}
lf-accepted-title = Leads accepted
lf-paused = paused
lf-active = accepting leads
lf-new = New form
lf-name = Form name
lf-department = Department whose managers get the leads
lf-fields = Fields (website field = lead field)
lf-fields-hint = One a line, e.g. "your-phone = phone". Lead fields: name, surname, phone, email, company, comment, or a field of the lead qualification process.
lf-honeypot = Honeypot field (hidden from people; bots fill it)
lf-create = Create the form
lf-error-pair = Fields, line { $line }: write "website field = lead field".
lf-back = All forms
lf-status = Status
lf-submit-url = Submit address
lf-embed = HTML for the website
lf-embed-hint = Paste it into the site's page; style it as you like, keep the names.
lf-pause = Pause
lf-resume = Resume
lf-delete = Delete the form
lf-form-title = Form { $name }

wh-title = Webhooks
wh-list = Subscriptions
wh-none = No subscription yet.
wh-active = delivering
wh-paused = paused
wh-paused-failures = paused after repeated failures
wh-new = New subscription
wh-url = Receiver URL
wh-description = Description
wh-events = Event types
wh-process = Only deals of the process (name)
wh-stage = Only deals entering the stage
wh-create = Subscribe
wh-created = Subscribed { $url }.
wh-secret-once = The signing secret, shown this once: copy it into the receiver now.
wh-back = All subscriptions
wh-status = Status
wh-pause = Pause
wh-resume = Resume
wh-delete = Delete the subscription
wh-deliveries = Delivery log
wh-deliveries-none = Nothing delivered yet.
wh-deliveries-unavailable = The delivery log cannot be read now.
wh-at = When
wh-event = Event
wh-attempt = Attempt
wh-answer = Answer
wh-webhook-title = Webhook { $url }
