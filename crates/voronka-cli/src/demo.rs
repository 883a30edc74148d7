//! `voronka serve --demo`: a believable sales department to sign in to.
//!
//! Seeds only a database that has no users yet, so it can never touch a
//! real organisation's data, and only once: the second start finds the
//! users and seeds nothing.
//!
//! Everything goes through the same commands a client's requests do (the
//! [`Crm`] methods, each with a real [`Caller`] of the acting user), so every
//! right and every rule of the `b2b-sale` process holds: a deal reaches its
//! stage only by doing what the process asks before each move (the call that
//! reached someone, the meeting that found the needs, the proposal sent, the
//! contract signed, the invoice paid). Nothing is appended directly. The
//! process's own automations run too (a first call planned on `new`, a needs
//! meeting on `needs`, a follow-up call on `negotiation`, a call back after
//! `callback`, a lost deal handed to the head of the team); managers complete
//! those tasks rather than logging duplicates, and cancel what is left open
//! on a deal they lose.
//!
//! Deterministic: one fixed-seed generator (splitmix64) plans every name,
//! number and choice before anything is written, so two runs produce the
//! same companies, people and deals (ids, document numbers and moments come
//! from the clock). Times are relative to now: events are recorded when the
//! seed runs, so a deal cannot look untouched for weeks; planned activities
//! can be due in the past, and those are overdue.
//!
//! Deals are driven concurrently, [`CONCURRENCY`] at a time (a bounded
//! `JoinSet`), each one's steps in order.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Offset, SecondsFormat, Timelike, Utc};
use serde_json::{json, Value};
use tokio::task::JoinSet;
use voronka_app::access::UserId;
use voronka_app::crm::deals::{DealChanges, NewDeal, StageMove};
use voronka_app::crm::work::{
    ActivityCancellation, ActivityCompletion, ActivityQuery, DocumentQuery, DocumentStatusChange,
    NewDocument, NewPayment,
};
use voronka_app::crm::{AppError, Caller, Crm, Written};
use voronka_app::directory::{Directory, NewUser};
use voronka_core::{Actor, Position, Role};
use voronka_crm::activity::ActivityInput;
use voronka_crm::company::CompanyInput;
use voronka_crm::contact::ContactInput;
use voronka_crm::customer_index::{CompanyFilter, ContactFilter};
use voronka_crm::deal_index::DealFilter;
use voronka_crm::document::DocumentLineInput;
use voronka_crm::page::{Cursor, Page, MAX_PAGE_SIZE};
use voronka_crm::product::ProductInput;
use voronka_crm::work_index::ProductFilter;
use voronka_crm::{ActivityId, CompanyId, ContactId, DealId, DocumentId, MoneyInput, ProductId};

/// The password of every demo user; printed on start, never for real data.
pub const DEMO_PASSWORD: &str = "voronka-demo-2026";

/// How many commands run at once while seeding.
pub const CONCURRENCY: usize = 16;

/// The generator's seed: the same seed, the same demo.
const SEED: u64 = 0x766f_726f_6e6b_6121;

const COMPANIES: usize = 200;
const PROCESS: &str = "b2b-sale";

// ------------------------------------------------------------------ random

/// splitmix64: tiny, fast and good enough to pick names.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// lo..=hi.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// An index by weight.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut roll = (self.next_u64() % u64::from(total.max(1))) as u32;
        for (index, weight) in weights.iter().enumerate() {
            if roll < *weight {
                return index;
            }
            roll -= weight;
        }
        weights.len() - 1
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

// ------------------------------------------------------------------ people

#[derive(Clone, Copy, PartialEq, Eq)]
enum Team {
    Sales,
    Moscow,
    Petersburg,
}

/// The demo users: email, display name, role, department.
const DEMO_USERS: [(&str, &str, Role, Team); 11] = [
    (
        "admin@demo.voronka",
        "Администратор",
        Role::Administrator,
        Team::Sales,
    ),
    (
        "director@demo.voronka",
        "Виктор Лебедев",
        Role::Director,
        Team::Sales,
    ),
    (
        "head@demo.voronka",
        "Ольга Смирнова",
        Role::HeadOfDepartment,
        Team::Moscow,
    ),
    (
        "head.spb@demo.voronka",
        "Дмитрий Орлов",
        Role::HeadOfDepartment,
        Team::Petersburg,
    ),
    (
        "anna@demo.voronka",
        "Анна Петрова",
        Role::Manager,
        Team::Moscow,
    ),
    (
        "ivan@demo.voronka",
        "Иван Соколов",
        Role::Manager,
        Team::Moscow,
    ),
    (
        "maria@demo.voronka",
        "Мария Козлова",
        Role::Manager,
        Team::Moscow,
    ),
    (
        "sergey@demo.voronka",
        "Сергей Морозов",
        Role::Manager,
        Team::Petersburg,
    ),
    (
        "elena@demo.voronka",
        "Елена Волкова",
        Role::Manager,
        Team::Petersburg,
    ),
    (
        "pavel@demo.voronka",
        "Павел Никитин",
        Role::Manager,
        Team::Petersburg,
    ),
    (
        "operator@demo.voronka",
        "Татьяна Фёдорова",
        Role::Operator,
        Team::Sales,
    ),
];

/// The acting users, as the CRM sees them.
struct Staff {
    admin: Caller,
    director: Caller,
    /// Heads of the Moscow and the Petersburg team.
    heads: [Caller; 2],
    /// Three Moscow managers, then three in Petersburg.
    managers: Vec<Caller>,
    operator: Caller,
}

impl Staff {
    fn team_of(manager: usize) -> usize {
        manager / 3
    }
}

// ---------------------------------------------------------------- catalog

#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    Licence,
    Module,
    Service,
    Support,
    Hardware,
}

/// SKU, name, unit, price in roubles (VAT-exclusive), VAT rate, group.
/// Software licences from the Russian registry carry no VAT.
const PRODUCTS: [(&str, &str, &str, i64, i64, Group); 21] = [
    (
        "VRN-START-12",
        "Воронка CRM «Старт», лицензия на пользователя, 12 мес.",
        "licence",
        12_000,
        0,
        Group::Licence,
    ),
    (
        "VRN-BIZ-12",
        "Воронка CRM «Бизнес», лицензия на пользователя, 12 мес.",
        "licence",
        24_000,
        0,
        Group::Licence,
    ),
    (
        "VRN-CORP-12",
        "Воронка CRM «Корпорация», лицензия на пользователя, 12 мес.",
        "licence",
        42_000,
        0,
        Group::Licence,
    ),
    (
        "VRN-SRV",
        "Воронка CRM, серверная лицензия (on-premise)",
        "piece",
        350_000,
        0,
        Group::Licence,
    ),
    (
        "MOD-TEL-12",
        "Модуль «Телефония», 12 мес.",
        "licence",
        6_000,
        0,
        Group::Module,
    ),
    (
        "MOD-BI-12",
        "Модуль «Аналитика и отчёты», 12 мес.",
        "licence",
        9_600,
        0,
        Group::Module,
    ),
    (
        "MOD-DOC-12",
        "Модуль «Документооборот», 12 мес.",
        "licence",
        7_200,
        0,
        Group::Module,
    ),
    (
        "MOD-1C",
        "Коннектор к 1С:Предприятие",
        "piece",
        48_000,
        0,
        Group::Module,
    ),
    (
        "SRV-AUDIT",
        "Аудит процесса продаж",
        "service",
        85_000,
        20,
        Group::Service,
    ),
    (
        "SRV-SETUP",
        "Настройка воронки и процессов",
        "hour",
        3_500,
        20,
        Group::Service,
    ),
    (
        "SRV-MIGR",
        "Миграция данных из другой CRM",
        "service",
        60_000,
        20,
        Group::Service,
    ),
    (
        "SRV-WEB",
        "Интеграция с сайтом и формами заявок",
        "service",
        40_000,
        20,
        Group::Service,
    ),
    (
        "SRV-PBX",
        "Интеграция с IP-телефонией",
        "service",
        30_000,
        20,
        Group::Service,
    ),
    (
        "SRV-REP",
        "Разработка отчётов по техническому заданию",
        "hour",
        3_500,
        20,
        Group::Service,
    ),
    (
        "EDU-USR",
        "Обучение пользователей (группа до 10 человек)",
        "service",
        25_000,
        20,
        Group::Service,
    ),
    (
        "EDU-ADM",
        "Обучение администраторов системы",
        "service",
        35_000,
        20,
        Group::Service,
    ),
    (
        "SUP-STD",
        "Техническая поддержка «Стандарт»",
        "month",
        15_000,
        20,
        Group::Support,
    ),
    (
        "SUP-PRM",
        "Техническая поддержка «Премиум»",
        "month",
        45_000,
        20,
        Group::Support,
    ),
    (
        "SUP-KAM",
        "Персональный менеджер сопровождения",
        "month",
        20_000,
        20,
        Group::Support,
    ),
    (
        "HW-PHONE",
        "IP-телефон Yealink T31P",
        "piece",
        5_900,
        20,
        Group::Hardware,
    ),
    (
        "HW-HEAD",
        "Гарнитура Jabra Evolve2 30",
        "piece",
        8_900,
        20,
        Group::Hardware,
    ),
];

struct ProductInfo {
    id: ProductId,
    sku: &'static str,
    name: &'static str,
    unit: &'static str,
    price_rub: i64,
    vat: i64,
    group: Group,
}

// ------------------------------------------------------------------- names

const ADJECTIVES: [&str; 30] = [
    "Северный",
    "Южный",
    "Восточный",
    "Западный",
    "Первый",
    "Новый",
    "Уральский",
    "Сибирский",
    "Балтийский",
    "Волжский",
    "Невский",
    "Золотой",
    "Серебряный",
    "Белый",
    "Зелёный",
    "Быстрый",
    "Верный",
    "Точный",
    "Главный",
    "Центральный",
    "Надёжный",
    "Прямой",
    "Большой",
    "Русский",
    "Открытый",
    "Деловой",
    "Городской",
    "Региональный",
    "Технический",
    "Промышленный",
];
const NOUNS: [&str; 30] = [
    "ветер",
    "берег",
    "мост",
    "путь",
    "свет",
    "парус",
    "горизонт",
    "маяк",
    "альянс",
    "дом",
    "край",
    "стандарт",
    "проект",
    "ресурс",
    "капитал",
    "поток",
    "ключ",
    "двор",
    "вектор",
    "импульс",
    "кедр",
    "квартал",
    "рынок",
    "сервис",
    "союз",
    "форт",
    "бриз",
    "полюс",
    "континент",
    "партнёр",
];
const PREFIXES: [&str; 22] = [
    "Техно",
    "Инфо",
    "Строй",
    "Агро",
    "Энерго",
    "Медиа",
    "Гео",
    "Эко",
    "Авто",
    "Транс",
    "Мед",
    "Софт",
    "Нефте",
    "Лес",
    "Электро",
    "Про",
    "Интер",
    "Мега",
    "Альфа",
    "Дельта",
    "Нова",
    "Терра",
];
const SUFFIXES: [&str; 18] = [
    "Сфера",
    "Лайн",
    "Маркет",
    "Сервис",
    "Групп",
    "Трейд",
    "Систем",
    "Логистик",
    "Снаб",
    "Пром",
    "Комплект",
    "Лаб",
    "Тех",
    "Вест",
    "Альянс",
    "Сити",
    "Форм",
    "Стиль",
];
const PUBLIC_BODIES: [&str; 6] = [
    "Городской центр имущества",
    "Дирекция капитального строительства",
    "Центр информационных технологий",
    "Горводосервис",
    "Объединённый центр закупок",
    "Транспортная дирекция",
];

/// Male surnames; the female form follows the ending.
const SURNAMES: [&str; 120] = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
    "Захаров",
    "Зайцев",
    "Соловьёв",
    "Борисов",
    "Яковлев",
    "Григорьев",
    "Романов",
    "Воробьёв",
    "Сергеев",
    "Кузьмин",
    "Фролов",
    "Александров",
    "Дмитриев",
    "Королёв",
    "Гусев",
    "Киселёв",
    "Ильин",
    "Максимов",
    "Поляков",
    "Сорокин",
    "Виноградов",
    "Ковалёв",
    "Белов",
    "Медведев",
    "Антонов",
    "Тарасов",
    "Жуков",
    "Баранов",
    "Филиппов",
    "Комаров",
    "Давыдов",
    "Беляев",
    "Герасимов",
    "Богданов",
    "Осипов",
    "Сидоров",
    "Матвеев",
    "Титов",
    "Марков",
    "Миронов",
    "Крылов",
    "Куликов",
    "Карпов",
    "Власов",
    "Мельников",
    "Денисов",
    "Гаврилов",
    "Тихонов",
    "Казаков",
    "Афанасьев",
    "Данилов",
    "Савельев",
    "Тимофеев",
    "Фомин",
    "Чернов",
    "Абрамов",
    "Мартынов",
    "Ефимов",
    "Федотов",
    "Щербаков",
    "Назаров",
    "Калинин",
    "Исаев",
    "Быков",
    "Маслов",
    "Родионов",
    "Коновалов",
    "Лазарев",
    "Воронин",
    "Климов",
    "Филатов",
    "Голубев",
    "Кудрявцев",
    "Прохоров",
    "Наумов",
    "Потапов",
    "Журавлёв",
    "Трофимов",
    "Леонов",
    "Соболев",
    "Ермаков",
    "Колесников",
    "Гончаров",
    "Емельянов",
    "Никифоров",
    "Грачёв",
    "Котов",
    "Гришин",
    "Покровский",
    "Вишневский",
    "Островский",
    "Яблонский",
    "Шевченко",
    "Бондаренко",
    "Коваленко",
    "Ким",
];
const MALE_NAMES: [&str; 36] = [
    "Александр",
    "Алексей",
    "Андрей",
    "Антон",
    "Артём",
    "Борис",
    "Вадим",
    "Валерий",
    "Виктор",
    "Владимир",
    "Вячеслав",
    "Геннадий",
    "Георгий",
    "Григорий",
    "Денис",
    "Дмитрий",
    "Евгений",
    "Егор",
    "Игорь",
    "Илья",
    "Кирилл",
    "Константин",
    "Леонид",
    "Максим",
    "Михаил",
    "Никита",
    "Николай",
    "Олег",
    "Павел",
    "Роман",
    "Руслан",
    "Сергей",
    "Станислав",
    "Степан",
    "Тимур",
    "Юрий",
];
const FEMALE_NAMES: [&str; 34] = [
    "Алина",
    "Алла",
    "Анастасия",
    "Анна",
    "Валентина",
    "Валерия",
    "Вера",
    "Виктория",
    "Галина",
    "Дарья",
    "Евгения",
    "Екатерина",
    "Елена",
    "Елизавета",
    "Инна",
    "Ирина",
    "Карина",
    "Ксения",
    "Лариса",
    "Любовь",
    "Людмила",
    "Маргарита",
    "Марина",
    "Мария",
    "Надежда",
    "Наталья",
    "Нина",
    "Оксана",
    "Ольга",
    "Полина",
    "Светлана",
    "София",
    "Татьяна",
    "Юлия",
];
const PATRONYMICS: [(&str, &str); 22] = [
    ("Александрович", "Александровна"),
    ("Алексеевич", "Алексеевна"),
    ("Андреевич", "Андреевна"),
    ("Анатольевич", "Анатольевна"),
    ("Борисович", "Борисовна"),
    ("Валерьевич", "Валерьевна"),
    ("Васильевич", "Васильевна"),
    ("Викторович", "Викторовна"),
    ("Владимирович", "Владимировна"),
    ("Геннадьевич", "Геннадьевна"),
    ("Дмитриевич", "Дмитриевна"),
    ("Евгеньевич", "Евгеньевна"),
    ("Игоревич", "Игоревна"),
    ("Иванович", "Ивановна"),
    ("Михайлович", "Михайловна"),
    ("Николаевич", "Николаевна"),
    ("Олегович", "Олеговна"),
    ("Павлович", "Павловна"),
    ("Петрович", "Петровна"),
    ("Романович", "Романовна"),
    ("Сергеевич", "Сергеевна"),
    ("Юрьевич", "Юрьевна"),
];
/// The first contact of a company is someone who decides.
const DECIDING_POSITIONS: [&str; 4] = [
    "Генеральный директор",
    "Коммерческий директор",
    "Исполнительный директор",
    "Директор по развитию",
];
const POSITIONS: [&str; 12] = [
    "Руководитель отдела продаж",
    "Финансовый директор",
    "ИТ-директор",
    "Руководитель отдела закупок",
    "Менеджер по закупкам",
    "Главный бухгалтер",
    "Офис-менеджер",
    "Системный администратор",
    "Руководитель call-центра",
    "Директор по маркетингу",
    "Специалист по закупкам",
    "Заместитель генерального директора",
];
const MOSCOW_STREETS: [&str; 15] = [
    "ул. Тверская",
    "Ленинградский пр-т",
    "ул. Большая Ордынка",
    "Варшавское ш.",
    "ул. Профсоюзная",
    "Кутузовский пр-т",
    "ул. Новый Арбат",
    "ул. Садовая-Черногрязская",
    "Пресненская наб.",
    "ул. Бауманская",
    "ул. Электрозаводская",
    "Дмитровское ш.",
    "ул. Шаболовка",
    "ул. Летниковская",
    "Научный пр-д",
];
const PETERSBURG_STREETS: [&str; 12] = [
    "Невский пр-т",
    "ул. Марата",
    "Лиговский пр-т",
    "Московский пр-т",
    "ул. Савушкина",
    "Каменноостровский пр-т",
    "ул. Профессора Попова",
    "Малый пр-т В.О.",
    "ул. Химиков",
    "Свердловская наб.",
    "пр-т Обуховской Обороны",
    "ул. Коли Томчака",
];

const SOURCES: [&str; 7] = [
    "website",
    "referral",
    "cold_call",
    "exhibition",
    "partner",
    "advertising",
    "repeat",
];
const SOURCE_WEIGHTS: [u32; 7] = [30, 15, 20, 8, 10, 10, 7];

const CALL_RESULTS: [&str; 6] = [
    "Дозвонились до ЛПР, интерес есть, договорились о встрече",
    "Обсудили задачи отдела продаж, просят показать систему",
    "Клиент сейчас работает в Excel, хочет навести порядок в заявках",
    "Уточнили состав отдела продаж и текущие инструменты",
    "Интересуются телефонией и контролем звонков, ждут встречу",
    "Рассказали о продукте, клиент готов обсудить внедрение",
];
const MEETING_RESULTS: [&str; 5] = [
    "Показали систему, выявили потребности отдела продаж",
    "Провели демонстрацию, согласовали объём внедрения",
    "Встреча с ЛПР и ИТ-директором, требования зафиксированы",
    "Разобрали процесс продаж клиента, нужны интеграции",
    "Онлайн-встреча: обсудили воронку, отчёты и сроки",
];
const NO_ANSWER_RESULTS: [&str; 3] = [
    "Не взяли трубку",
    "Секретарь не соединила, просили перезвонить позже",
    "Абонент недоступен",
];

/// Where a deal is left.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// An open stage, by index: 0 new .. 6 invoice.
    Open(usize),
    Won,
    /// Lost from the stage with this index, for a reason.
    Lost {
        from: usize,
        reason: &'static str,
        competitor: Option<&'static str>,
    },
}

const STAGES: [&str; 9] = [
    "new",
    "qualifying",
    "needs",
    "proposal",
    "negotiation",
    "contract",
    "invoice",
    "won",
    "lost",
];

/// How many deals end in each stage (300 in all).
const DEALS_PER_STAGE: [usize; 9] = [30, 35, 35, 35, 30, 25, 20, 50, 40];

// ------------------------------------------------------------------- plans

struct CompanyPlan {
    id: CompanyId,
    /// Index into `Staff::managers`.
    manager: usize,
    input: CompanyInput,
    /// The name without the legal form, for deal titles.
    short: String,
    industry: &'static str,
    segment: &'static str,
    contacts: Vec<ContactId>,
}

struct ContactPlan {
    id: ContactId,
    company: usize,
    /// Entered by the operator (on the manager's behalf) instead of the
    /// manager.
    by_operator: bool,
    input: ContactInput,
}

struct DealPlan {
    id: DealId,
    company: usize,
    manager: usize,
    contact: ContactId,
    decision_maker: ContactId,
    title: String,
    source: &'static str,
    users: i64,
    target: Target,
    /// The contract's number, should the deal get that far.
    number: usize,
    seed: u64,
}

struct Plan {
    companies: Vec<CompanyPlan>,
    contacts: Vec<ContactPlan>,
    deals: Vec<DealPlan>,
}

fn female_surname(male: &str) -> String {
    if let Some(stem) = male.strip_suffix("ий") {
        format!("{stem}ая")
    } else if male.ends_with("ов")
        || male.ends_with("ев")
        || male.ends_with("ёв")
        || male.ends_with("ин")
    {
        format!("{male}а")
    } else {
        male.to_owned()
    }
}

/// "Аудит процесса продаж" -> "аудит процесса продаж" (the rest kept: CRM).
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn translit(text: &str) -> String {
    let mut out = String::new();
    for c in text.to_lowercase().chars() {
        let latin = match c {
            'а' => "a",
            'б' => "b",
            'в' => "v",
            'г' => "g",
            'д' => "d",
            'е' | 'ё' | 'э' => "e",
            'ж' => "zh",
            'з' => "z",
            'и' => "i",
            'й' | 'ы' => "y",
            'к' => "k",
            'л' => "l",
            'м' => "m",
            'н' => "n",
            'о' => "o",
            'п' => "p",
            'р' => "r",
            'с' => "s",
            'т' => "t",
            'у' => "u",
            'ф' => "f",
            'х' => "kh",
            'ц' => "ts",
            'ч' => "ch",
            'ш' => "sh",
            'щ' => "shch",
            'ю' => "yu",
            'я' => "ya",
            'ъ' | 'ь' => "",
            ' ' | '-' => "-",
            c if c.is_ascii_alphanumeric() => {
                out.push(c);
                continue;
            }
            _ => "",
        };
        out.push_str(latin);
    }
    out
}

/// `(Σ weight·digit mod 11) mod 10`, the INN check digit.
fn inn_check(digits: &[u8], weights: &[u32]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(weights)
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    (sum % 11 % 10) as u8
}

/// A legal entity's 10-digit INN in `region` (two digits).
fn legal_inn(rng: &mut Rng, region: &str) -> String {
    let mut digits: Vec<u8> = region.bytes().map(|b| b - b'0').collect();
    let office = rng.range(1, 51) as u8;
    digits.push(office / 10);
    digits.push(office % 10);
    for _ in 0..5 {
        digits.push(rng.below(10) as u8);
    }
    digits.push(inn_check(&digits, &[2, 4, 10, 3, 5, 9, 4, 6, 8]));
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// A person's (a sole trader's) 12-digit INN in `region`.
fn person_inn(rng: &mut Rng, region: &str) -> String {
    let mut digits: Vec<u8> = region.bytes().map(|b| b - b'0').collect();
    for _ in 0..8 {
        digits.push(rng.below(10) as u8);
    }
    digits.push(inn_check(&digits, &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]));
    digits.push(inn_check(&digits, &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]));
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// A mobile number in one of the ways people write them.
fn mobile(rng: &mut Rng, used: &mut HashSet<String>) -> String {
    let national = loop {
        let code = rng.pick(&[
            "903", "905", "909", "910", "915", "916", "921", "925", "926", "929", "931", "951",
            "965", "977", "981", "985", "999",
        ]);
        let candidate = format!("{code}{:07}", rng.below(10_000_000));
        if used.insert(candidate.clone()) {
            break candidate;
        }
    };
    let (c, a, b, d, e) = (
        &national[..3],
        &national[3..6],
        &national[6..8],
        &national[8..10],
        &national,
    );
    match rng.below(6) {
        0 => format!("+7 {c} {a}-{b}-{d}"),
        1 => format!("8 ({c}) {a}-{b}-{d}"),
        2 => format!("+7{e}"),
        3 => format!("8{e}"),
        4 => format!("8-{c}-{a}-{b}-{d}"),
        _ => format!("+7 ({c}) {a} {b} {d}"),
    }
}

fn plan(rng: &mut Rng) -> Plan {
    let mut names = HashSet::new();
    let mut domains = HashSet::new();
    let mut inns = HashSet::new();
    let mut phones = HashSet::new();
    let mut companies = Vec::with_capacity(COMPANIES);
    for index in 0..COMPANIES {
        let moscow = index % 2 == 0;
        let manager = (if moscow { 0 } else { 3 }) + rng.below(3);
        let region = if moscow {
            *rng.pick(&["77", "77", "77", "50"])
        } else {
            *rng.pick(&["78", "78", "78", "47"])
        };
        // A name already taken is drawn again, of any kind (there are
        // only a few public bodies).
        let (legal_form, prefix, short, person) = loop {
            // Mostly companies, some sole traders and public bodies.
            let (form, prefix, short, person) = match rng.weighted(&[90, 6, 4]) {
                1 => {
                    let surname = *rng.pick(&SURNAMES);
                    let name = *rng.pick(&MALE_NAMES);
                    let patronymic = rng.pick(&PATRONYMICS).0;
                    ("ip", "ИП", format!("{surname} {name} {patronymic}"), true)
                }
                2 => ("gup", "ГУП", (*rng.pick(&PUBLIC_BODIES)).to_owned(), false),
                _ => {
                    let short = if rng.chance(55) {
                        format!("{} {}", rng.pick(&ADJECTIVES), rng.pick(&NOUNS))
                    } else {
                        format!("{}{}", rng.pick(&PREFIXES), rng.pick(&SUFFIXES))
                    };
                    match rng.weighted(&[87, 10, 3]) {
                        1 => ("ao", "АО", short, false),
                        2 => ("pao", "ПАО", short, false),
                        _ => ("ooo", "ООО", short, false),
                    }
                }
            };
            if names.insert(short.clone()) {
                break (form, prefix, short, person);
            }
        };
        let name = if person {
            format!("{prefix} {short}")
        } else {
            format!("{prefix} \"{short}\"")
        };
        let inn = loop {
            let inn = if person {
                person_inn(rng, region)
            } else {
                legal_inn(rng, region)
            };
            if inns.insert(inn.clone()) {
                break inn;
            }
        };
        let kpp = (!person).then(|| format!("{}01001", &inn[..4]));
        let industry = if legal_form == "gup" {
            "government"
        } else {
            ["retail", "manufacturing", "it", "services", "other"]
                [rng.weighted(&[25, 25, 20, 22, 8])]
        };
        let segment = match legal_form {
            "gup" => "public",
            "ip" => "small",
            "pao" => "enterprise",
            "ao" => ["medium", "enterprise"][rng.below(2)],
            _ => ["small", "medium", "enterprise"][rng.weighted(&[50, 38, 12])],
        };
        let mut domain = translit(&short.replace(' ', "-"));
        if !domains.insert(domain.clone()) {
            domain = format!("{domain}-{}", if moscow { "msk" } else { "spb" });
            domains.insert(domain.clone());
        }
        let address = if moscow {
            format!(
                "{}, г. Москва, {}, д. {}, {}",
                rng.range(101_000, 129_999),
                rng.pick(&MOSCOW_STREETS),
                rng.range(1, 120),
                if rng.chance(50) {
                    format!("офис {}", rng.range(101, 950))
                } else {
                    format!("стр. {}", rng.range(1, 9))
                }
            )
        } else {
            format!(
                "{}, г. Санкт-Петербург, {}, д. {}, {}",
                rng.range(190_000, 199_999),
                rng.pick(&PETERSBURG_STREETS),
                rng.range(1, 150),
                if rng.chance(50) {
                    format!("пом. {}-Н", rng.range(1, 60))
                } else {
                    format!("офис {}", rng.range(101, 720))
                }
            )
        };
        let website = (!person && rng.chance(75)).then(|| format!("https://{domain}.ru"));
        companies.push(CompanyPlan {
            id: CompanyId::from_uuid(uuid::Uuid::now_v7()),
            manager,
            input: CompanyInput {
                name,
                legal_form: Some(legal_form.to_owned()),
                inn: Some(inn),
                kpp,
                industry: Some(industry.to_owned()),
                segment: Some(segment.to_owned()),
                address: Some(address),
                website,
                responsible: None,
                custom: Default::default(),
            },
            short,
            industry,
            segment,
            contacts: Vec::new(),
        });
    }

    let mut contacts = Vec::new();
    let mut emails = HashSet::new();
    for (index, company) in companies.iter_mut().enumerate() {
        let count = 1 + rng.weighted(&[20, 50, 30]);
        let domain = company
            .input
            .website
            .as_deref()
            .and_then(|w| w.strip_prefix("https://"))
            .map(str::to_owned);
        for n in 0..count {
            let female = rng.chance(45);
            let male_surname = *rng.pick(&SURNAMES);
            let (surname, name, patronymic) = if female {
                (
                    female_surname(male_surname),
                    *rng.pick(&FEMALE_NAMES),
                    rng.pick(&PATRONYMICS).1,
                )
            } else {
                (
                    male_surname.to_owned(),
                    *rng.pick(&MALE_NAMES),
                    rng.pick(&PATRONYMICS).0,
                )
            };
            let position = if n == 0 {
                *rng.pick(&DECIDING_POSITIONS)
            } else {
                *rng.pick(&POSITIONS)
            };
            let mut phone_list = vec![mobile(rng, &mut phones)];
            if rng.chance(15) {
                let city = if index % 2 == 0 { "495" } else { "812" };
                phone_list.push(format!(
                    "+7 ({city}) {}-{:02}-{:02} доб. {}",
                    rng.range(200, 999),
                    rng.below(100),
                    rng.below(100),
                    rng.range(100, 499)
                ));
            }
            let mut email_list = Vec::new();
            if rng.chance(85) {
                let local = match rng.below(3) {
                    0 => format!("{}.{}", translit(name), translit(&surname)),
                    1 => format!("{}{}", &translit(name)[..1], translit(&surname)),
                    _ => translit(&surname),
                };
                let host = match &domain {
                    Some(domain) => domain.clone(),
                    None => (*rng.pick(&["mail.ru", "yandex.ru", "gmail.com", "bk.ru"])).to_owned(),
                };
                let mut email = format!("{local}@{host}");
                let mut suffix = 2;
                while !emails.insert(email.clone()) {
                    email = format!("{local}{suffix}@{host}");
                    suffix += 1;
                }
                email_list.push(email);
            }
            let birthday = rng.chance(30).then(|| {
                format!(
                    "{}-{:02}-{:02}",
                    rng.range(1962, 1999),
                    rng.range(1, 12),
                    rng.range(1, 28)
                )
            });
            let id = ContactId::from_uuid(uuid::Uuid::now_v7());
            company.contacts.push(id);
            contacts.push(ContactPlan {
                id,
                company: index,
                by_operator: rng.chance(10),
                input: ContactInput {
                    surname,
                    name: name.to_owned(),
                    patronymic: Some(patronymic.to_owned()),
                    phones: phone_list,
                    emails: email_list,
                    position: Some(position.to_owned()),
                    company: Some(company.id),
                    birthday,
                    consent_to_mailings: rng.chance(40),
                    responsible: None,
                    custom: Default::default(),
                },
            });
        }
    }

    let mut targets = Vec::new();
    for (stage, count) in DEALS_PER_STAGE.iter().enumerate() {
        for _ in 0..*count {
            targets.push(match stage {
                0..=6 => Target::Open(stage),
                7 => Target::Won,
                _ => {
                    let from = rng.weighted(&[6, 8, 8, 7, 6, 3, 2]);
                    let reason = [
                        "price",
                        "competitor",
                        "no_budget",
                        "no_response",
                        "no_need",
                        "other",
                    ][rng.weighted(&[20, 25, 20, 15, 15, 5])];
                    let competitor = (reason == "competitor").then(|| {
                        ["bitrix24", "amocrm", "megaplan", "in_house", "other"]
                            [rng.weighted(&[35, 35, 10, 15, 5])]
                    });
                    Target::Lost {
                        from,
                        reason,
                        competitor,
                    }
                }
            });
        }
    }
    rng.shuffle(&mut targets);
    let mut deals = Vec::with_capacity(targets.len());
    for (number, target) in targets.into_iter().enumerate() {
        let company_index = rng.below(companies.len());
        let company = &companies[company_index];
        let users = match company.segment {
            "small" => rng.range(3, 20),
            "medium" => rng.range(10, 60),
            _ => rng.range(30, 200),
        };
        let title = match rng.below(8) {
            0 => format!("{}: CRM на {users} пользователей", company.short),
            1 => format!("Внедрение CRM — {}", company.short),
            2 => format!("{}: телефония и аналитика продаж", company.short),
            3 => format!("Расширение лицензий — {}", company.short),
            4 => format!(
                "{}: переход с {}",
                company.short,
                rng.pick(&["amoCRM", "Битрикс24", "Excel", "Мегаплана"])
            ),
            5 => format!("{}: интеграция с 1С и сайтом", company.short),
            6 => format!("Автоматизация отдела продаж — {}", company.short),
            _ => format!("{}: лицензии и обучение", company.short),
        };
        let contact = *rng.pick(&company.contacts);
        deals.push(DealPlan {
            id: DealId::from_uuid(uuid::Uuid::now_v7()),
            company: company_index,
            manager: company.manager,
            contact,
            decision_maker: company.contacts[0],
            title,
            source: SOURCES[rng.weighted(&SOURCE_WEIGHTS)],
            users,
            target,
            number: number + 1,
            seed: rng.next_u64(),
        });
    }
    Plan {
        companies,
        contacts,
        deals,
    }
}

// ----------------------------------------------------------------- running

fn failed(what: impl std::fmt::Display) -> impl FnOnce(AppError) -> anyhow::Error {
    move |error| anyhow::anyhow!("demo: cannot {what}: {error:?}")
}

/// Runs `job` over `items`, at most `limit` at once; the first failure
/// stops the rest.
async fn run_bounded<T, F, Fut>(items: Vec<T>, limit: usize, mut job: F) -> anyhow::Result<()>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut running = JoinSet::new();
    for item in items {
        if running.len() >= limit {
            if let Some(done) = running.join_next().await {
                done.context("a demo task stopped")??;
            }
        }
        running.spawn(job(item));
    }
    while let Some(done) = running.join_next().await {
        done.context("a demo task stopped")??;
    }
    Ok(())
}

fn msk() -> FixedOffset {
    FixedOffset::east_opt(3 * 3600).unwrap_or_else(|| Utc.fix())
}

fn rfc3339(moment: DateTime<FixedOffset>) -> String {
    moment.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A moment at `hour:minute` Moscow time, `days` from today.
fn at_hour(now: DateTime<FixedOffset>, days: i64, hour: u32, minute: u32) -> DateTime<FixedOffset> {
    (now + Duration::days(days))
        .with_hour(hour)
        .and_then(|t| t.with_minute(minute))
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now)
}

/// When a planned next step is due: some overdue, most today or tomorrow.
fn next_due(rng: &mut Rng, now: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    match rng.weighted(&[30, 34, 26, 10]) {
        0 => {
            let back = now - Duration::minutes(rng.range(45, 72 * 60));
            back.with_minute(back.minute() / 15 * 15)
                .and_then(|t| t.with_second(0))
                .and_then(|t| t.with_nanosecond(0))
                .unwrap_or(back)
        }
        1 => {
            let today = at_hour(now, 0, rng.range(10, 18) as u32, [0, 30][rng.below(2)]);
            if today > now + Duration::minutes(15) {
                today
            } else {
                let soon = now + Duration::minutes(rng.range(20, 150));
                soon.with_minute(soon.minute() / 5 * 5)
                    .and_then(|t| t.with_second(0))
                    .and_then(|t| t.with_nanosecond(0))
                    .unwrap_or(soon)
            }
        }
        2 => at_hour(
            now,
            1,
            rng.range(9, 18) as u32,
            [0, 15, 30, 45][rng.below(4)],
        ),
        _ => at_hour(now, rng.range(2, 5), rng.range(10, 17) as u32, 0),
    }
}

/// What every deal run shares.
struct Shared {
    crm: Arc<Crm>,
    staff: Staff,
    products: Vec<ProductInfo>,
    companies: Vec<CompanyPlan>,
    now: DateTime<FixedOffset>,
}

/// One deal being driven to its stage by its manager.
struct DealRun<'a> {
    shared: &'a Shared,
    plan: &'a DealPlan,
    who: &'a Caller,
    rng: Rng,
    company: &'a CompanyPlan,
}

impl DealRun<'_> {
    fn crm(&self) -> &Crm {
        &self.shared.crm
    }

    fn now(&self) -> DateTime<FixedOffset> {
        self.shared.now
    }

    fn today(&self) -> NaiveDate {
        self.shared.now.date_naive()
    }

    fn what(&self, step: &str) -> String {
        format!("{step} on the deal «{}»", self.plan.title)
    }

    fn activity(&self, kind: &str, subject: &str, at: DateTime<FixedOffset>) -> ActivityInput {
        ActivityInput {
            kind: kind.to_owned(),
            direction: (kind == "call").then(|| "outgoing".to_owned()),
            subject: Some(subject.to_owned()),
            planned_start: Some(rfc3339(at)),
            deal: Some(self.plan.id.to_string()),
            contact: Some(self.plan.contact.to_string()),
            company: Some(self.company.id.to_string()),
            ..ActivityInput::default()
        }
    }

    async fn log(
        &self,
        input: ActivityInput,
        outcome: Option<&str>,
        result: Option<&str>,
    ) -> anyhow::Result<Written> {
        let step = format!("log a {}", input.kind);
        self.crm()
            .log_activity(
                self.who,
                ActivityId::from_uuid(uuid::Uuid::now_v7()),
                input,
                outcome.map(str::to_owned),
                result.map(str::to_owned),
                None,
            )
            .await
            .map_err(failed(self.what(&step)))
    }

    async fn plan_next(&mut self, kind: &str, subject: &str) -> anyhow::Result<()> {
        let now = self.now();
        let due = next_due(&mut self.rng, now);
        let mut input = self.activity(kind, subject, due);
        if kind == "task" {
            input.due_at = Some(rfc3339(due + Duration::hours(1)));
        }
        self.crm()
            .plan_activity(
                self.who,
                ActivityId::from_uuid(uuid::Uuid::now_v7()),
                input,
                None,
            )
            .await
            .map_err(failed(self.what(&format!("plan a {kind}"))))?;
        Ok(())
    }

    async fn update(&self, changes: DealChanges) -> anyhow::Result<()> {
        self.crm()
            .update_deal(self.who, self.plan.id, changes, None)
            .await
            .map_err(failed(self.what("change the data")))?;
        Ok(())
    }

    async fn move_to(&self, who: &Caller, to: &str, fields: Value) -> anyhow::Result<()> {
        let fields = match fields {
            Value::Object(map) => map.into_iter().collect(),
            _ => BTreeMap::new(),
        };
        self.crm()
            .move_deal(
                who,
                self.plan.id,
                StageMove {
                    to: to.to_owned(),
                    expected_version: None,
                    fields,
                },
                None,
            )
            .await
            .map_err(failed(self.what(&format!("move to `{to}`"))))?;
        Ok(())
    }

    async fn document(
        &self,
        kind: &str,
        title: Option<String>,
        lines: Vec<DocumentLineInput>,
    ) -> anyhow::Result<(DocumentId, i64)> {
        let id = DocumentId::from_uuid(uuid::Uuid::now_v7());
        let written = self
            .crm()
            .create_document(
                self.who,
                self.plan.id,
                id,
                NewDocument {
                    kind: kind.to_owned(),
                    title,
                    currency: None,
                    lines,
                },
            )
            .await
            .map_err(failed(self.what(&format!("create the {kind}"))))?;
        let row = self
            .crm()
            .document(self.who, id, Some(Position(written.position)))
            .await
            .map_err(failed(self.what(&format!("read the {kind}"))))?;
        Ok((id, row.record.totals.gross.minor))
    }

    async fn set_status(&self, document: DocumentId, to: &str) -> anyhow::Result<()> {
        self.crm()
            .change_document_status(
                self.who,
                document,
                DocumentStatusChange {
                    to: to.to_owned(),
                    expected_version: None,
                },
                None,
            )
            .await
            .map_err(failed(self.what(&format!("mark a document {to}"))))?;
        Ok(())
    }

    async fn pay(&self, invoice: DocumentId, minor: i64, days_ago: i64) -> anyhow::Result<()> {
        let reference = format!(
            "п/п № {}",
            100 + (self.plan.number * 7 + minor as usize) % 900
        );
        self.crm()
            .register_payment(
                self.who,
                invoice,
                NewPayment {
                    payment_id: None,
                    amount: MoneyInput::rub_minor(minor),
                    paid_on: self.today() - Duration::days(days_ago),
                    reference: Some(reference),
                },
                uuid::Uuid::now_v7(),
                None,
            )
            .await
            .map_err(failed(self.what("register a payment")))?;
        Ok(())
    }

    /// The proposal's lines from the catalog and the needs they answer.
    fn offer(&mut self) -> (Vec<DocumentLineInput>, String) {
        let products = &self.shared.products;
        let by_group = |group: Group| -> Vec<&ProductInfo> {
            products.iter().filter(|p| p.group == group).collect()
        };
        let users = self.plan.users;
        let licences = by_group(Group::Licence);
        let edition = if users < 15 {
            licences[0]
        } else if users < 60 {
            licences[1]
        } else {
            licences[2]
        };
        let discount = *self.rng.pick(&[0, 0, 5, 10, 15]);
        let line = |product: &ProductInfo, quantity: i64, discount: i64| DocumentLineInput {
            product: Some(product.id),
            name: product.name.to_owned(),
            quantity: quantity.to_string(),
            unit: Some(product.unit.to_owned()),
            price: MoneyInput::rub_minor(product.price_rub * 100),
            vat_rate: Some(product.vat),
            discount_percent: Some(discount),
        };
        let mut lines = vec![line(edition, users, discount)];
        let mut needs = vec![format!("{users} пользователей")];
        let modules = by_group(Group::Module);
        let mut wanted: Vec<&ProductInfo> = Vec::new();
        for _ in 0..self.rng.below(3) {
            let module = *self.rng.pick(&modules);
            if !wanted.iter().any(|m| m.sku == module.sku) {
                wanted.push(module);
            }
        }
        for module in &wanted {
            let quantity = if module.unit == "piece" { 1 } else { users };
            lines.push(line(module, quantity, discount));
            needs.push(match module.sku {
                "MOD-TEL-12" => "телефония".to_owned(),
                "MOD-BI-12" => "отчёты для руководителя".to_owned(),
                "MOD-DOC-12" => "документы из карточки сделки".to_owned(),
                _ => "обмен с 1С".to_owned(),
            });
        }
        let services = by_group(Group::Service);
        for _ in 0..1 + self.rng.below(2) {
            let service = *self.rng.pick(&services);
            if lines.iter().any(|l| l.product == Some(service.id)) {
                continue;
            }
            let quantity = match service.sku {
                "SRV-SETUP" | "SRV-REP" => self.rng.range(8, 40),
                "EDU-USR" => (users + 9) / 10,
                _ => 1,
            };
            lines.push(line(service, quantity, 0));
            needs.push(lower_first(service.name));
        }
        if self.rng.chance(30) {
            let support = *self.rng.pick(&by_group(Group::Support));
            lines.push(line(support, 12, 0));
            needs.push("поддержка на год".to_owned());
        }
        if self.rng.chance(15) {
            for hardware in by_group(Group::Hardware) {
                lines.push(line(hardware, users.min(30), 0));
            }
            needs.push("оснащение рабочих мест".to_owned());
        }
        (lines, needs.join(", "))
    }

    /// The planned activities on the deal (of `kind`, when given), oldest
    /// first: what the process's automations planned, among others.
    async fn planned(&self, kind: Option<&str>) -> anyhow::Result<Vec<ActivityId>> {
        let query = ActivityQuery {
            deal: Some(self.plan.id),
            kind: kind.map(str::to_owned),
            status: Some("planned".to_owned()),
            ..ActivityQuery::default()
        };
        let page = self
            .crm()
            .activities(self.who, &query, None, MAX_PAGE_SIZE, None)
            .await
            .map_err(failed(self.what("list the planned activities")))?;
        Ok(page.items.iter().rev().map(|a| a.row.record.id).collect())
    }

    /// A call or a meeting that happened: completes the one planned on the
    /// deal (by an automation or earlier) if there is one, else logs it.
    async fn held(
        &self,
        kind: &str,
        subject: &str,
        at: DateTime<FixedOffset>,
        outcome: &str,
        result: &str,
    ) -> anyhow::Result<()> {
        match self.planned(Some(kind)).await?.first() {
            Some(id) => {
                self.crm()
                    .complete_activity(
                        self.who,
                        *id,
                        ActivityCompletion {
                            outcome: Some(outcome.to_owned()),
                            result: Some(result.to_owned()),
                            expected_version: None,
                        },
                        None,
                    )
                    .await
                    .map_err(failed(self.what(&format!("complete a {kind}"))))?;
            }
            None => {
                self.log(
                    self.activity(kind, subject, at),
                    Some(outcome),
                    Some(result),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Drives the deal to its target stage, doing what the process asks.
    /// The process's automations plan the first call (on `new`), the needs
    /// meeting (on `needs`), a call back and the proposal follow-up (on
    /// `negotiation`); the manager completes those rather than logging
    /// duplicates.
    async fn drive(mut self) -> anyhow::Result<()> {
        let (reach, lost) = match self.plan.target {
            Target::Open(stage) => (stage, None),
            Target::Won => (7, None),
            Target::Lost {
                from,
                reason,
                competitor,
            } => (from, Some((reason, competitor))),
        };
        let company = self.company;
        // A lead from the website arrives without its company; the rest are
        // entered with it.
        let web_lead = self.plan.source == "website" && self.rng.chance(50);
        self.crm()
            .create_deal(
                self.who,
                self.plan.id,
                NewDeal {
                    process: PROCESS.to_owned(),
                    title: self.plan.title.clone(),
                    company: (!web_lead).then_some(company.id),
                    contact: None,
                    amount: None,
                    responsible: None,
                    source: Some(self.plan.source.to_owned()),
                    expected_close_date: None,
                    fields: BTreeMap::new(),
                },
                None,
            )
            .await
            .map_err(failed(self.what("create")))?;
        let now = self.now();
        let days_back = |rng: &mut Rng, base: i64| now - Duration::days(base + rng.range(0, 2));

        if reach == 0 {
            // The automation's first call is the next step.
            return self.finish(lost).await;
        }
        // new -> qualifying: the company, the contact, the responsible.
        self.update(DealChanges {
            company: Some(company.id),
            contact: Some(self.plan.contact),
            ..DealChanges::default()
        })
        .await?;
        self.move_to(self.who, "qualifying", json!({})).await?;
        if self.rng.chance(35) {
            // Not reached the first time (a call back is then planned by
            // the process, or by the manager).
            let at = days_back(&mut self.rng, 12);
            let (outcome, result) = if self.rng.chance(40) {
                ("callback", "Просили перезвонить завтра")
            } else {
                ("no_answer", *self.rng.pick(&NO_ANSWER_RESULTS))
            };
            self.held("call", "Квалифицирующий звонок", at, outcome, result)
                .await?;
            if reach == 1 && lost.is_none() && self.planned(Some("call")).await?.is_empty() {
                self.plan_next("call", "Перезвонить клиенту").await?;
            }
        }
        if reach == 1 {
            return self.finish(lost).await;
        }
        // qualifying -> needs: a call that reached someone, the industry.
        let at = days_back(&mut self.rng, 10);
        let result = *self.rng.pick(&CALL_RESULTS);
        self.held("call", "Квалифицирующий звонок", at, "reached", result)
            .await?;
        self.move_to(self.who, "needs", json!({"industry": company.industry}))
            .await?;
        if reach == 2 {
            // The automation's needs meeting is the next step.
            return self.finish(lost).await;
        }
        // needs -> proposal: a meeting that found the needs, a summary and
        // an amount (the proposal's total).
        let at = at_hour(now, -(6 + self.rng.range(0, 2)), 11, 0);
        let result = *self.rng.pick(&MEETING_RESULTS);
        self.held(
            "meeting",
            "Встреча: выявление потребностей",
            at,
            "needs_identified",
            result,
        )
        .await?;
        let (lines, needs) = self.offer();
        let (proposal, gross) = self
            .document(
                "proposal",
                Some(format!(
                    "Коммерческое предложение для {}",
                    company.input.name
                )),
                lines.clone(),
            )
            .await?;
        self.update(DealChanges {
            amount: Some(MoneyInput::rub_minor(gross)),
            ..DealChanges::default()
        })
        .await?;
        let mut fields = json!({"needs_summary": needs});
        if self.rng.chance(50) {
            let budget = (gross * (8 + self.rng.range(0, 7)) / 10) / 5_000_000 * 5_000_000;
            fields["budget"] = json!({"minor": budget.max(5_000_000), "currency": "RUB"});
        }
        self.move_to(self.who, "proposal", fields).await?;
        let send_proposal = reach > 3 || self.rng.chance(60);
        if send_proposal {
            self.set_status(proposal, "sent").await?;
            let at = days_back(&mut self.rng, 4);
            self.log(
                self.activity("email", "Коммерческое предложение", at),
                None,
                None,
            )
            .await?;
        }
        if reach == 3 {
            if lost.is_none() {
                let (kind, subject) = if send_proposal {
                    ("call", "Обсудить коммерческое предложение")
                } else {
                    ("task", "Подготовить и отправить КП")
                };
                self.plan_next(kind, subject).await?;
            }
            return self.finish(lost).await;
        }
        // proposal -> negotiation: the decision maker, a close date ahead,
        // the proposal sent.
        let close = self.today() + Duration::days(self.rng.range(10, 60));
        self.update(DealChanges {
            expected_close_date: Some(close),
            ..DealChanges::default()
        })
        .await?;
        self.move_to(
            self.who,
            "negotiation",
            json!({"decision_maker": self.plan.decision_maker.to_string()}),
        )
        .await?;
        if reach == 4 {
            // The automation's follow-up call is the next step.
            return self.finish(lost).await;
        }
        // negotiation -> contract: the follow-up call, the contract sent,
        // its number.
        let at = days_back(&mut self.rng, 2);
        self.held(
            "call",
            "Обсудить КП с клиентом",
            at,
            "reached",
            "Согласовали условия, готовим договор",
        )
        .await?;
        let contract_title = if self.rng.chance(60) {
            "Лицензионный договор"
        } else {
            "Договор на внедрение и сопровождение"
        };
        let (contract, _) = self
            .document("contract", Some(contract_title.to_owned()), Vec::new())
            .await?;
        self.set_status(contract, "sent").await?;
        let year = self.today().format("%Y");
        self.move_to(
            self.who,
            "contract",
            json!({"contract_number": format!("Д-{year}/{:03}", self.plan.number)}),
        )
        .await?;
        if reach == 5 {
            if self.rng.chance(30) {
                self.set_status(contract, "signed").await?;
            }
            if lost.is_none() {
                self.plan_next("task", "Получить подписанный договор")
                    .await?;
            }
            return self.finish(lost).await;
        }
        // contract -> invoice: the contract signed, the invoice issued.
        self.set_status(contract, "signed").await?;
        let (invoice, total) = self
            .document(
                "invoice",
                Some(format!("Счёт по договору Д-{year}/{:03}", self.plan.number)),
                lines,
            )
            .await?;
        self.set_status(invoice, "sent").await?;
        self.move_to(self.who, "invoice", json!({})).await?;
        if reach == 6 {
            if lost.is_none() {
                if self.rng.chance(25) {
                    let days_ago = self.rng.range(0, 3);
                    self.pay(invoice, total / 2, days_ago).await?;
                }
                self.plan_next("task", "Проконтролировать оплату счёта")
                    .await?;
            }
            return self.finish(lost).await;
        }
        // invoice -> won: paid in full, at once or in two parts; closed
        // today.
        if self.rng.chance(40) {
            let first = total / 2;
            let (prepaid, rest) = (self.rng.range(5, 12), self.rng.range(0, 4));
            self.pay(invoice, first, prepaid).await?;
            self.pay(invoice, total - first, rest).await?;
        } else {
            let days_ago = self.rng.range(0, 10);
            self.pay(invoice, total, days_ago).await?;
        }
        self.update(DealChanges {
            expected_close_date: Some(self.today()),
            ..DealChanges::default()
        })
        .await?;
        self.move_to(self.who, "won", json!({})).await
    }

    /// Closes a lost deal with its reason: its open activities cancelled,
    /// then the move (from `invoice` only a director may: the process says
    /// so; the process then hands the deal to the head of the team).
    async fn finish(&mut self, lost: Option<(&'static str, Option<&str>)>) -> anyhow::Result<()> {
        let Some((reason, competitor)) = lost else {
            return Ok(());
        };
        if reason == "no_need" && self.rng.chance(60) {
            let at = self.now() - Duration::days(self.rng.range(1, 4));
            self.held(
                "call",
                "Уточнить решение клиента",
                at,
                "not_interested",
                "Клиент отказался: задача неактуальна",
            )
            .await?;
        }
        for id in self.planned(None).await? {
            self.crm()
                .cancel_activity(
                    self.who,
                    id,
                    ActivityCancellation {
                        reason: Some("Сделка проиграна".to_owned()),
                        expected_version: None,
                    },
                    None,
                )
                .await
                .map_err(failed(self.what("cancel an activity")))?;
        }
        let mut fields = json!({"loss_reason": reason});
        if let Some(competitor) = competitor {
            fields["competitor"] = json!(competitor);
        }
        let from_invoice = matches!(self.plan.target, Target::Lost { from: 6, .. });
        let who = if from_invoice {
            &self.shared.staff.director
        } else {
            self.who
        };
        self.move_to(who, "lost", fields).await
    }
}

// ------------------------------------------------------------------ seeding

/// Seeds the demo organisation if there are no users; returns whether it
/// did. With users already there, prints the demo logins again when they
/// are the demo's.
pub async fn seed(crm: &Arc<Crm>) -> anyhow::Result<bool> {
    let directory = crm.directory().clone();
    if !directory
        .is_empty()
        .await
        .context("cannot read the users")?
    {
        let users = directory.users().await.context("cannot read the users")?;
        if users.iter().any(|u| u.email == DEMO_USERS[0].0) {
            println!("demo: the database is already seeded; nothing added");
            print_logins();
        } else {
            println!("demo: the database has users already; nothing seeded");
        }
        return Ok(false);
    }
    let started = Instant::now();
    let staff = seed_users(crm, &directory).await?;
    print_logins();
    // From here on a failure leaves a half-seeded database that a second
    // start will not touch (it has users): say so.
    seed_records(crm, staff, started)
        .await
        .context("the demo was seeded only in part; remove the database and start again")?;
    Ok(true)
}

/// Everything but the users: the catalog, the customers, the deals and
/// their work, then the summary.
async fn seed_records(crm: &Arc<Crm>, staff: Staff, started: Instant) -> anyhow::Result<()> {
    let mut rng = Rng::new(SEED);
    let plan = plan(&mut rng);
    let products = seed_products(crm, &staff).await?;
    seed_companies(crm, &staff, &plan.companies).await?;
    let Plan {
        companies,
        contacts,
        deals,
    } = plan;
    seed_contacts(crm, &staff, &companies, contacts).await?;
    let shared = Arc::new(Shared {
        crm: crm.clone(),
        staff,
        products,
        companies,
        now: Utc::now().with_timezone(&msk()),
    });
    let open: Vec<(DealId, usize)> = deals
        .iter()
        .filter(|d| matches!(d.target, Target::Open(stage) if stage >= 2))
        .map(|d| (d.id, d.manager))
        .collect();
    run_bounded(deals, CONCURRENCY, |plan| {
        let shared = shared.clone();
        async move {
            let run = DealRun {
                shared: &shared,
                plan: &plan,
                who: &shared.staff.managers[plan.manager],
                rng: Rng::new(plan.seed),
                company: &shared.companies[plan.company],
            };
            run.drive().await
        }
    })
    .await?;
    seed_team_tasks(&shared, &open, &mut rng).await?;
    let summary = Summary::count(crm, &shared.staff.admin).await?;
    summary.print(started.elapsed());
    Ok(())
}

fn print_logins() {
    println!("demo: sign in with the password {DEMO_PASSWORD} as:");
    for (email, name, role, _) in DEMO_USERS {
        println!("demo:   {email:<24} {:<20} {name}", role.as_str());
    }
}

async fn seed_users(crm: &Crm, directory: &Arc<Directory>) -> anyhow::Result<Staff> {
    let by = Actor::system("demo");
    let sales = directory
        .add_department("Отдел продаж", None, &by)
        .await
        .context("cannot create the demo department")?;
    let moscow = directory
        .add_department("Москва", Some(sales), &by)
        .await
        .context("cannot create the demo team")?;
    let petersburg = directory
        .add_department("Санкт-Петербург", Some(sales), &by)
        .await
        .context("cannot create the demo team")?;
    // Hashing the passwords is the slow part: all at once.
    let mut adding = JoinSet::new();
    for (index, (email, name, role, team)) in DEMO_USERS.into_iter().enumerate() {
        let directory = directory.clone();
        let by = by.clone();
        let new = NewUser {
            email: email.to_owned(),
            display_name: name.to_owned(),
            password: DEMO_PASSWORD.to_owned(),
            roles: BTreeSet::from([role]),
            department: match team {
                Team::Sales => sales,
                Team::Moscow => moscow,
                Team::Petersburg => petersburg,
            },
        };
        adding.spawn(async move {
            let id = directory
                .add_user(new, &by)
                .await
                .with_context(|| format!("cannot create the demo user {email}"))?;
            anyhow::Ok((index, id))
        });
    }
    let mut ids: Vec<Option<UserId>> = vec![None; DEMO_USERS.len()];
    while let Some(done) = adding.join_next().await {
        let (index, id) = done.context("a demo task stopped")??;
        ids[index] = Some(id);
    }
    let mut callers = Vec::new();
    for id in ids {
        let id = id.context("a demo user was not created")?;
        let user = directory
            .user(id)
            .await
            .context("cannot read the users")?
            .context("a demo user vanished")?;
        callers.push(crm.caller(user).await.map_err(failed("sign in"))?);
    }
    let mut callers = callers.into_iter();
    let mut next = || callers.next().context("a demo user is missing");
    let admin = next()?;
    let director = next()?;
    let heads = [next()?, next()?];
    let managers = (0..6).map(|_| next()).collect::<anyhow::Result<Vec<_>>>()?;
    let operator = next()?;
    Ok(Staff {
        admin,
        director,
        heads,
        managers,
        operator,
    })
}

async fn seed_products(crm: &Crm, staff: &Staff) -> anyhow::Result<Vec<ProductInfo>> {
    let mut products = Vec::new();
    for (sku, name, unit, price_rub, vat, group) in PRODUCTS {
        let id = ProductId::from_uuid(uuid::Uuid::now_v7());
        crm.create_product(
            &staff.admin,
            id,
            ProductInput {
                name: name.to_owned(),
                sku: Some(sku.to_owned()),
                description: None,
                unit: Some(unit.to_owned()),
                price: MoneyInput::rub_minor(price_rub * 100),
                vat_rate: Some(vat),
            },
            None,
        )
        .await
        .map_err(failed(format!("add the product {sku}")))?;
        products.push(ProductInfo {
            id,
            sku,
            name,
            unit,
            price_rub,
            vat,
            group,
        });
    }
    Ok(products)
}

async fn seed_companies(
    crm: &Arc<Crm>,
    staff: &Staff,
    companies: &[CompanyPlan],
) -> anyhow::Result<()> {
    let jobs: Vec<(CompanyId, CompanyInput, Caller)> = companies
        .iter()
        .map(|c| (c.id, c.input.clone(), staff.managers[c.manager].clone()))
        .collect();
    run_bounded(jobs, CONCURRENCY, |(id, input, who)| {
        let crm = crm.clone();
        async move {
            let name = input.name.clone();
            crm.create_company(&who, id, input, false, None)
                .await
                .map_err(failed(format!("create the company {name}")))?;
            Ok(())
        }
    })
    .await
}

async fn seed_contacts(
    crm: &Arc<Crm>,
    staff: &Staff,
    companies: &[CompanyPlan],
    contacts: Vec<ContactPlan>,
) -> anyhow::Result<()> {
    let jobs: Vec<(ContactPlan, Caller)> = contacts
        .into_iter()
        .map(|mut contact| {
            let manager = &staff.managers[companies[contact.company].manager];
            let who = if contact.by_operator {
                // The operator enters it for the company's manager.
                contact.input.responsible = Some(manager.user.id);
                staff.operator.clone()
            } else {
                manager.clone()
            };
            (contact, who)
        })
        .collect();
    run_bounded(jobs, CONCURRENCY, |(contact, who)| {
        let crm = crm.clone();
        async move {
            let name = format!("{} {}", contact.input.surname, contact.input.name);
            crm.create_contact(&who, contact.id, contact.input, false, None)
                .await
                .map_err(failed(format!("create the contact {name}")))?;
            Ok(())
        }
    })
    .await
}

/// Heads of the teams hand their managers a few tasks on open deals.
async fn seed_team_tasks(
    shared: &Arc<Shared>,
    open: &[(DealId, usize)],
    rng: &mut Rng,
) -> anyhow::Result<()> {
    const SUBJECTS: [&str; 4] = [
        "Актуализировать сделку перед планёркой",
        "Согласовать скидку с руководителем",
        "Уточнить сроки закрытия сделки",
        "Подготовить кейсы похожих внедрений",
    ];
    let mut jobs = Vec::new();
    for team in 0..2 {
        let in_team: Vec<&(DealId, usize)> = open
            .iter()
            .filter(|(_, manager)| Staff::team_of(*manager) == team)
            .collect();
        for _ in 0..8.min(in_team.len()) {
            let (deal, manager) = **rng.pick(&in_team);
            let due = next_due(rng, shared.now);
            let input = ActivityInput {
                kind: "task".to_owned(),
                subject: Some((*rng.pick(&SUBJECTS)).to_owned()),
                due_at: Some(rfc3339(due)),
                responsible: Some(shared.staff.managers[manager].user.id.to_string()),
                deal: Some(deal.to_string()),
                ..ActivityInput::default()
            };
            jobs.push((team, input));
        }
    }
    run_bounded(jobs, CONCURRENCY, |(team, input)| {
        let shared = shared.clone();
        async move {
            shared
                .crm
                .plan_activity(
                    &shared.staff.heads[team],
                    ActivityId::from_uuid(uuid::Uuid::now_v7()),
                    input,
                    None,
                )
                .await
                .map_err(failed("plan a task for a manager"))?;
            Ok(())
        }
    })
    .await
}

// ------------------------------------------------------------------ summary

/// What the seed left, counted through the CRM's own queries.
struct Summary {
    products: usize,
    companies: usize,
    contacts: usize,
    deals: Vec<(&'static str, usize)>,
    activities_done: usize,
    activities_planned: usize,
    overdue: usize,
    documents: Vec<(&'static str, usize)>,
    paid_invoices: usize,
}

/// Counts every item of a paged list.
async fn count_all<T, F, Fut>(mut page: F) -> anyhow::Result<usize>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: Future<Output = Result<Page<T>, AppError>>,
{
    let mut total = 0;
    let mut after = None;
    loop {
        let current = page(after).await.map_err(failed("count the records"))?;
        total += current.items.len();
        match current.next_cursor {
            Some(next) => after = Some(Cursor::parse(&next).map_err(|e| anyhow::anyhow!("{e:?}"))?),
            None => return Ok(total),
        }
    }
}

impl Summary {
    async fn count(crm: &Crm, admin: &Caller) -> anyhow::Result<Summary> {
        let limit = MAX_PAGE_SIZE;
        let (products, companies, contacts) = (
            ProductFilter::default(),
            CompanyFilter::default(),
            ContactFilter::default(),
        );
        let products =
            count_all(|after| crm.products(admin, &products, after, limit, None)).await?;
        let companies =
            count_all(|after| crm.companies(admin, &companies, after, limit, None)).await?;
        let contacts =
            count_all(|after| crm.contacts(admin, &contacts, after, limit, None)).await?;
        let mut deals = Vec::new();
        for stage in STAGES {
            let filter = DealFilter {
                stage: Some(stage.to_owned()),
                ..DealFilter::default()
            };
            let n = count_all(|after| crm.deals(admin, &filter, after, limit, None)).await?;
            deals.push((stage, n));
        }
        let activities = |status: &str, overdue: bool| ActivityQuery {
            status: Some(status.to_owned()),
            overdue,
            ..ActivityQuery::default()
        };
        let done = activities("done", false);
        let activities_done =
            count_all(|after| crm.activities(admin, &done, after, limit, None)).await?;
        let planned = activities("planned", false);
        let activities_planned =
            count_all(|after| crm.activities(admin, &planned, after, limit, None)).await?;
        let late = activities("planned", true);
        let overdue = count_all(|after| crm.activities(admin, &late, after, limit, None)).await?;
        let mut documents = Vec::new();
        for kind in ["proposal", "contract", "invoice"] {
            let query = DocumentQuery {
                kind: Some(kind.to_owned()),
                ..DocumentQuery::default()
            };
            let n = count_all(|after| crm.documents(admin, &query, after, limit, None)).await?;
            documents.push((kind, n));
        }
        let paid = DocumentQuery {
            kind: Some("invoice".to_owned()),
            status: Some("paid".to_owned()),
            ..DocumentQuery::default()
        };
        let paid_invoices =
            count_all(|after| crm.documents(admin, &paid, after, limit, None)).await?;
        Ok(Summary {
            products,
            companies,
            contacts,
            deals,
            activities_done,
            activities_planned,
            overdue,
            documents,
            paid_invoices,
        })
    }

    fn print(&self, took: std::time::Duration) {
        let deals: usize = self.deals.iter().map(|(_, n)| n).sum();
        let documents: usize = self.documents.iter().map(|(_, n)| n).sum();
        let list = |items: &[(&str, usize)]| {
            items
                .iter()
                .map(|(name, n)| format!("{name} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "demo: seeded in {:.1} s: {} products, {} companies, {} contacts, {deals} deals",
            took.as_secs_f64(),
            self.products,
            self.companies,
            self.contacts,
        );
        println!("demo:   deals by stage: {}", list(&self.deals));
        println!(
            "demo:   activities: {} done, {} planned ({} overdue)",
            self.activities_done, self.activities_planned, self.overdue
        );
        println!(
            "demo:   documents: {documents} ({}; {} invoices paid)",
            list(&self.documents),
            self.paid_invoices
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits_of(text: &str) -> String {
        text.chars().filter(char::is_ascii_digit).collect()
    }

    #[test]
    fn generated_inns_are_valid() {
        let mut rng = Rng::new(1);
        for _ in 0..500 {
            let legal = legal_inn(&mut rng, "77");
            assert!(
                voronka_core::customer::Inn::parse(&legal).is_ok(),
                "{legal}"
            );
            let person = person_inn(&mut rng, "78");
            assert!(
                voronka_core::customer::Inn::parse(&person).is_ok(),
                "{person}"
            );
        }
    }

    #[test]
    fn the_plan_is_the_same_every_time() {
        let names = |seed| {
            let plan = plan(&mut Rng::new(seed));
            (
                plan.companies
                    .iter()
                    .map(|c| c.input.name.clone())
                    .collect::<Vec<_>>(),
                plan.contacts
                    .iter()
                    .map(|c| (c.input.surname.clone(), c.input.phones.clone()))
                    .collect::<Vec<_>>(),
                plan.deals
                    .iter()
                    .map(|d| d.title.clone())
                    .collect::<Vec<_>>(),
            )
        };
        let first = names(SEED);
        assert_eq!(first, names(SEED));
        assert_eq!(first.0.len(), COMPANIES);
        assert_eq!(first.2.len(), DEALS_PER_STAGE.iter().sum::<usize>());
        assert!(
            first.1.len() > 350 && first.1.len() < 480,
            "{}",
            first.1.len()
        );
    }

    #[test]
    fn phones_and_surnames_read_right() {
        let mut rng = Rng::new(7);
        let mut used = HashSet::new();
        for _ in 0..100 {
            let phone = mobile(&mut rng, &mut used);
            let digits = digits_of(&phone);
            assert!(digits.len() == 10 || digits.len() == 11, "{phone}");
        }
        assert_eq!(female_surname("Иванов"), "Иванова");
        assert_eq!(female_surname("Покровский"), "Покровская");
        assert_eq!(female_surname("Шевченко"), "Шевченко");
        assert_eq!(translit("Северный ветер"), "severnyy-veter");
        assert_eq!(lower_first("Миграция из CRM"), "миграция из CRM");
    }
}
