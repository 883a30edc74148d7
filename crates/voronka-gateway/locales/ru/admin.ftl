# Process designer and administration pages.

## Process designer
des-title = Процессы
des-intro = Опубликованные процессы продаж. Откройте процесс, чтобы проверить черновик, увидеть схему и то, что он сделал бы с реальными сделками, до публикации.
des-new-draft = Новый процесс
des-none = Ни один процесс ещё не опубликован.
des-versions = Версии
des-stage-count = { $count ->
    [one] { $count } этап
    [few] { $count } этапа
   *[other] { $count } этапов
}
des-edit = Изменить
des-edit-title = Процесс { $name }
des-back = Все процессы
des-published = Опубликован { $name }, версия { $version }.
des-yaml = Определение (YAML)
des-yaml-hint = Чтобы опубликовать изменение, увеличьте «version:». «Проверить» проверяет текст, рисует схему и прогоняет реальные сделки через черновик.
des-problems = Ошибки
des-valid = Ошибок нет: черновик корректен.
des-not-checked = Ещё не проверено.
des-error-count = { $count ->
    [one] { $count } ошибка
    [few] { $count } ошибки
   *[other] { $count } ошибок
}
des-warning = предупреждение
des-check = Проверить и смоделировать
des-publish = Опубликовать
des-diagram = Схема
des-diagram-label = Этапы и переходы процесса { $name }
des-terminal = итог
des-transitions = { $count ->
    [one] { $count } переход
    [few] { $count } перехода
   *[other] { $count } переходов
}
des-changed-under-you = Пока вы редактировали версию { $base }, кто-то опубликовал версию { $latest }. Откройте процесс заново, чтобы увидеть изменения; ваш текст сохранён ниже.
des-version-not-newer = Этот номер версии уже занят: последняя опубликованная версия — { $latest }. Увеличьте «version:».
des-sim-title = Что было бы на реальной истории
des-sim-summary = Прогнано сделок процесса { $process }: { $deals }; черновик заблокировал бы: { $blocked }.
des-sim-none = Черновик не заблокировал бы ни одной.
des-sim-deal = Сделка { $id }
des-sim-removed-target = В черновике нет такого этапа.
des-sim-blocked = Сделки, которые черновик заблокировал бы
des-sim-more = И ещё { $count }.
des-sim-stranded = Сделки на этапах, которые черновик удаляет
des-sim-skipped = Не подходят к черновику и пропущены записанных фактов: { $count }.
des-sim-funnel = Сколько сделок вошло в каждый этап
des-stage = Этап
des-sim-before = Как было
des-sim-after = С черновиком
des-sim-removed = (удалён)

## Administration
adm-users = Пользователи
adm-users-hint = Добавляйте пользователей, меняйте роли, отключайте ушедших.
adm-roles = Роли и права
adm-roles-hint = Что может каждая роль.
adm-departments = Отделы
adm-departments-hint = Дерево отделов; руководители видят своё поддерево.
adm-dictionaries = Справочники
adm-dictionaries-hint = Закрытые списки, из которых выбирают значения.
adm-plans = Планы
adm-plans-hint = Цели для менеджера или отдела на месяц или неделю.
adm-processes-hint = Изменяйте, проверяйте и публикуйте процессы продаж.
adm-done-added = Пользователь добавлен и уже может войти.
adm-done-roles = Роли изменены.
adm-done-deactivated = Пользователь отключён.
adm-done-department = Отдел добавлен.
adm-done-saved = План сохранён.
adm-user-add = Добавить пользователя
adm-user-name = Имя
adm-user-login = Логин (e-mail)
adm-user-password = Пароль
adm-user-department = Отдел
adm-user-roles = Роли
adm-user-add-submit = Добавить пользователя
adm-user-count = { $count ->
    [one] { $count } пользователь
    [few] { $count } пользователя
   *[other] { $count } пользователей
}
adm-user-inactive = отключён
adm-user-change-roles = Изменить роли
adm-user-save-roles = Сохранить роли
adm-user-deactivate = Отключить
adm-user-deactivate-label = Отключить: { $name }
adm-role-administrator = Администратор
adm-role-director = Директор
adm-role-head-of-sales = Руководитель продаж
adm-role-head-of-department = Руководитель отдела
adm-role-manager = Менеджер
adm-role-operator = Оператор
adm-role-process-designer = Проектировщик процессов
adm-role-analyst = Аналитик
adm-role-integrator = Интегратор
adm-error-email-invalid = Логин должен быть адресом e-mail.
adm-error-email-taken = Пользователь с таким e-mail уже есть.
adm-error-display-name-invalid = Введите имя (до 200 символов).
adm-error-roles-empty = Выберите хотя бы одну роль.
adm-error-password-too-short = Пароль слишком короткий.
adm-error-password-too-long = Пароль слишком длинный.
adm-error-password-single-repeated-character = Пароль не может состоять из одного повторяющегося символа.
adm-error-password-equals-email = Пароль не должен совпадать с e-mail.
adm-error-department-name-invalid = Введите название отдела (до 200 символов).
adm-error-department-name-taken = Отдел с таким названием там уже есть.
adm-error-department-unknown = Выберите отдел.
adm-error-directory-conflict = Кто-то одновременно изменил пользователей. Повторите.
adm-roles-intro = Права одинаковы на страницах и в API. «Отдел» — отдел пользователя и все отделы ниже.
adm-right = Право
adm-action-see-sales-record = Видеть сделки, компании, дела
adm-action-see-contact-personal-data = Видеть персональные данные контактов
adm-action-edit-contact-personal-data = Изменять персональные данные контактов
adm-action-log-activity = Записывать звонки и встречи
adm-action-step-deal = Переводить сделки по этапам
adm-action-edit-sales-record = Создавать и менять записи продаж
adm-action-manage-catalog = Вести каталог товаров
adm-action-read-event-log = Читать ленту событий
adm-action-publish-process = Публиковать процессы
adm-action-manage-users = Управлять пользователями и отделами
adm-action-read-reports = Смотреть отчёты
adm-action-set-plans = Ставить планы
adm-action-manage-webhooks = Настраивать вебхуки
adm-action-read-own-notifications = Читать свои уведомления
adm-grant-all = все
adm-grant-department = отдел
adm-grant-own = свои
adm-grant-none = нет
adm-department-tree = Дерево отделов
adm-department-add = Добавить отдел
adm-department-name = Название
adm-department-parent = Вышестоящий отдел
adm-department-add-submit = Добавить отдел
adm-members = { $count ->
    [one] { $count } сотрудник
    [few] { $count } сотрудника
   *[other] { $count } сотрудников
}
adm-dictionaries-intro = Стандартные справочники встроены в «Воронку»; справочники процесса меняются в его определении (раздел «Процессы»).
adm-dictionaries-standard = Стандартные справочники
adm-dictionaries-of = Справочники процесса «{ $process }»
adm-dictionary-value = Значение
adm-plans-intro = План задаёт цели менеджеру или отделу на месяц или ISO-неделю. Пустые поля не меняют текущие цели.
adm-plan-scope = Менеджер или отдел
adm-plan-managers = Менеджеры
adm-plan-departments = Отделы
adm-plan-period = Период
adm-plan-month = Месяц
adm-plan-week = Неделя
adm-plan-start = Начало периода
adm-plan-start-hint = Любой день периода: месяц начинается с первого числа, неделя — с понедельника.
adm-plan-targets = Цели
adm-plan-save = Сохранить план
adm-metric-calls-made = Звонков сделано
adm-metric-calls-reached = Дозвонов до клиента
adm-metric-meetings-held = Встреч проведено
adm-metric-proposals-sent = КП отправлено
adm-metric-invoices-issued = Счетов выставлено
adm-metric-deals-won = Сделок выиграно
adm-metric-revenue-won = Выручка, ₽
adm-metric-new-contacts = Новых контактов
adm-plan-error-scope = Выберите менеджера или отдел.
adm-plan-error-period = Выберите месяц или неделю.
adm-plan-error-start = Укажите дату начала периода.
adm-plan-error-target = { $metric }: введите целое число не меньше 0.
adm-plan-error-no-targets = Укажите хотя бы одну цель.
