## Интеграции: импорт, рассылки

nav-integrations = Интеграции
int-imports-hint = Загрузка компаний, контактов, сделок или дел из CSV: сначала проверка, затем импорт.
int-mailings-hint = Сегменты контактов и рассылки им по e-mail.

field-mapping = Сопоставление
field-file = Файл
field-columns = Столбцы
field-job = Импорт
field-body = Текст
field-filter-q = Поиск

imp-title = Импорт
imp-intro = Загрузите выгрузку CSV (UTF-8 или Windows-1251, «;» или «,»). «Проверить» покажет, что будет создано, дубли и ошибочные строки по строке и столбцу, ничего не записывая; проверенный файл затем импортируется из отчёта.
imp-file = Файл CSV
imp-file-hint = Не больше 64 МиБ.
imp-kind = Что в файле
imp-kind-companies = Компании
imp-kind-contacts = Контакты
imp-kind-deals = Сделки
imp-kind-activities = Дела
imp-mapping = Сохранённое сопоставление
imp-new-mapping = Новое или изменённое сопоставление
imp-new-mapping-hint = Необязательно. По строке «Заголовок = поле»; сохраняется под именем и используется для этого файла вместо выбранного выше.
imp-mapping-name = Имя сопоставления
imp-pairs = Столбцы (Заголовок = поле)
imp-fields = Поля каждого вида
imp-check = Проверить (без записи)
imp-run = Импортировать
imp-saved = Сохранённые сопоставления
imp-saved-none = Сопоставлений пока нет.
imp-header = Столбец файла
imp-field = Поле
imp-mapping-edit = Изменить
imp-mapping-delete = Удалить
imp-mapping-delete-label = Удалить сопоставление { $name }
imp-mapping-deleted = Сопоставление удалено.
imp-error-kind = Выберите, что в файле.
imp-error-file = Выберите непустой файл CSV.
imp-error-pair = Столбцы, строка { $line }: напишите «Заголовок = поле».
imp-error-new-name = Назовите новое сопоставление.
imp-error-mapping = Выберите сохранённое сопоставление или впишите столбцы.
imp-job-check-title = Проверка { $file }
imp-job-run-title = Импорт { $file }
imp-back = К импорту
imp-status = Состояние
imp-status-running = Выполняется…
imp-status-finished = Готово
imp-status-failed = Файл не принят
imp-progress = Ход
imp-progress-rows = { $done } из { $total } строк
imp-refresh = Обновить
imp-file-refused = Файл нельзя импортировать:
imp-run-checked-hint = Пока ничего не записано. Импортировать этот файл с теми же столбцами: будет создано записей — { $count }.
imp-run-checked = Импортировать проверенный файл
imp-see-run = Импорт этого файла
imp-rows = Прочитано строк
imp-would-create = Будет создано
imp-created = Создано
imp-already = Уже импортированы раньше
imp-duplicates = Дубли
imp-invalid = Ошибочные строки
imp-encoding = Кодировка и разделитель
imp-line = Строка
imp-column = Столбец
imp-reason = Причина
imp-duplicate-of = Похоже на
imp-same-as-line = строку { $line } этого файла
imp-existing = запись, уже имеющуюся в базе

mail-title = Рассылки
mail-mailings = Рассылки
mail-mailings-none = Рассылок пока нет.
mail-new = Новая рассылка
mail-needs-segment = Сначала создайте сегмент: рассылка уходит контактам сегмента.
mail-body = Текст
mail-body-hint = Простой текст; подстановки:
mail-segment = Сегмент
mail-create = Создать черновик
mail-segments = Сегменты
mail-segments-none = Сегментов пока нет.
mail-segment-new = Новый сегмент
mail-segment-name = Название сегмента
mail-segment-create = Сохранить сегмент
mail-segment-title = Сегмент { $name }
mail-segment-delete = Удалить сегмент
mail-segment-deleted = удалён
mail-done-segment-deleted = Сегмент удалён.
mail-filter-q = Текст поиска
mail-filter-all = Все контакты с согласием и e-mail
mail-status-draft = Черновик
mail-status-sending = Отправляется…
mail-status-finished = Отправлена
mail-progress = отправлено { $sent }, пропущено { $skipped }, с ошибкой { $failed } из { $total }
mail-outcome = Итог
mail-back = Все рассылки и сегменты
mail-recipients = { $count ->
    [one] Сейчас охватывает { $count } контакт
    [few] Сейчас охватывает { $count } контакта
   *[many] Сейчас охватывает { $count } контактов
}
mail-recipients-none = Среди видимых вам контактов нет подходящих с согласием на рассылки и e-mail.
mail-recipients-more = …и ещё { $count }.
mail-send = Отправить
mail-error-unknown = { $field }: такого варианта нет.
mail-error-no-smtp = На этом сервере не настроена почта (voronka serve --smtp): рассылку нельзя отправить.

int-forms-hint = Формы заявок с сайта: адрес, куда сайт отправляет форму, и HTML для вставки.
int-webhooks-hint = События, отправляемые в другие системы по мере появления, и журнал доставки.

lf-title = Формы заявок
lf-list = Формы
lf-none = Форм пока нет.
lf-accepted = { $count ->
    [one] { $count } заявка
    [few] { $count } заявки
   *[many] { $count } заявок
}
lf-accepted-title = Принято заявок
lf-paused = приостановлена
lf-active = принимает заявки
lf-new = Новая форма
lf-name = Название формы
lf-department = Отдел, менеджерам которого идут заявки
lf-fields = Поля (поле сайта = поле заявки)
lf-fields-hint = По одному в строке, например «your-phone = phone». Поля заявки: name, surname, phone, email, company, comment или поле процесса квалификации лида.
lf-honeypot = Поле-ловушка (скрыто от людей, его заполняют боты)
lf-create = Создать форму
lf-error-pair = Поля, строка { $line }: напишите «поле сайта = поле заявки».
lf-back = Все формы
lf-status = Состояние
lf-submit-url = Адрес отправки
lf-embed = HTML для сайта
lf-embed-hint = Вставьте на страницу сайта; оформление любое, имена полей сохраните.
lf-pause = Приостановить
lf-resume = Возобновить
lf-delete = Удалить форму
lf-form-title = Форма { $name }

wh-title = Вебхуки
wh-list = Подписки
wh-none = Подписок пока нет.
wh-active = доставляется
wh-paused = приостановлена
wh-paused-failures = приостановлена после повторных ошибок
wh-new = Новая подписка
wh-url = Адрес получателя
wh-description = Описание
wh-events = Типы событий
wh-process = Только сделки процесса (имя)
wh-stage = Только сделки, входящие в этап
wh-create = Подписать
wh-created = Подписка на { $url } создана.
wh-secret-once = Секрет подписи показывается один раз: скопируйте его в получатель сейчас.
wh-back = Все подписки
wh-status = Состояние
wh-pause = Приостановить
wh-resume = Возобновить
wh-delete = Удалить подписку
wh-deliveries = Журнал доставки
wh-deliveries-none = Пока ничего не доставлено.
wh-deliveries-unavailable = Журнал доставки сейчас недоступен.
wh-at = Когда
wh-event = Событие
wh-attempt = Попытка
wh-answer = Ответ
wh-webhook-title = Вебхук { $url }
