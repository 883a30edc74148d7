//! The page shell (head, navigation, language switch, sign-out) and the
//! small pieces every page uses. maud escapes every `(value)`; nothing
//! here wraps user data in `PreEscaped`.

use maud::{html, Markup, DOCTYPE};

use super::i18n::{self, Lang};
use super::session::{Signed, Viewer, CSRF_FIELD};

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Day,
    Board,
    Companies,
    Contacts,
    Reports,
    Processes,
    Admin,
    Integrations,
    None,
}

/// A translated message without arguments.
pub fn t(lang: Lang, key: &str) -> String {
    i18n::message(lang, key, &[])
}

/// A translated message with arguments.
pub fn ta(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    i18n::message(lang, key, args)
}

fn head(lang: Lang, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Voronka" }
            link rel="stylesheet" href="/assets/app.css";
            script src="/assets/app.js" defer {}
            meta name="color-scheme" content="light";
            meta name="lang" content=(lang.code());
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title))
            body { (body) }
        }
    }
}

/// The hidden CSRF field of a form.
pub fn csrf(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(viewer.csrf); }
}

/// The language switch: a form per language, posting to `/lang`.
pub fn language_form(viewer: &Viewer, back: &str) -> Markup {
    let lang = viewer.lang;
    html! {
        form.lang-switch method="post" action="/lang" {
            (csrf(viewer))
            input type="hidden" name="back" value=(back);
            @for (code, label) in [("ru", "Русский"), ("en", "English")] {
                @if code == lang.code() {
                    button type="submit" name="lang" value=(code) aria-pressed="true" lang=(code) { (label) }
                } @else {
                    button type="submit" name="lang" value=(code) aria-pressed="false" lang=(code) { (label) }
                }
            }
        }
    }
}

/// The full shell of a signed-in page.
pub fn page(signed: &Signed, title: &str, nav: Nav, body: Markup) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    // Designing and administration are shown only to those with the right.
    let may = |action| signed.caller.may_at_all(action).is_ok();
    let items: Vec<(Nav, &str, &str)> = [
        (Nav::Day, "/", "nav-day"),
        (Nav::Board, "/board", "nav-board"),
        (Nav::Companies, "/companies", "nav-companies"),
        (Nav::Contacts, "/contacts", "nav-contacts"),
        (Nav::Reports, "/reports", "nav-reports"),
        (Nav::Processes, "/processes", "nav-processes"),
        (Nav::Integrations, "/integrations", "nav-integrations"),
        (Nav::Admin, "/admin", "nav-admin"),
    ]
    .into_iter()
    .filter(|(item, _, _)| match item {
        Nav::Processes => may(voronka_app::access::Action::PublishProcess),
        // Imports need an edit right; the others their own right.
        Nav::Integrations => {
            use voronka_app::access::Action;
            [
                Action::EditSalesRecord,
                Action::EditContactPersonalData,
                Action::LogActivity,
                Action::SendMailings,
                Action::ManageIntegrations,
                Action::ManageWebhooks,
            ]
            .into_iter()
            .any(may)
        }
        Nav::Admin => {
            may(voronka_app::access::Action::ManageUsers)
                || may(voronka_app::access::Action::SetPlans)
        }
        _ => true,
    })
    .collect();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title))
            body {
                a.skip href="#main" { (t(lang, "skip-to-content")) }
                header.top {
                    a.brand href="/" { "Voronka" }
                    nav aria-label=(t(lang, "nav-label")) {
                        ul {
                            @for (item, href, key) in items {
                                li {
                                    @if item == nav {
                                        a href=(href) aria-current="page" { (t(lang, key)) }
                                    } @else {
                                        a href=(href) { (t(lang, key)) }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        a.notifications href="/notifications" {
                            (t(lang, "nav-notifications"))
                            " "
                            span.badge aria-label=(ta(lang, "nav-notifications-unread", &[("count", signed.unread_notifications.to_string())])) {
                                (signed.unread_notifications)
                            }
                        }
                        span.user { (signed.caller.user.display_name) }
                        (language_form(viewer, &viewer.path))
                        form method="post" action="/logout" {
                            (csrf(viewer))
                            button.link type="submit" { (t(lang, "nav-logout")) }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An error box with every message (`role=alert`, read out at once).
pub fn alert(messages: &[String]) -> Markup {
    html! {
        @if !messages.is_empty() {
            div.alert role="alert" {
                @if messages.len() == 1 {
                    (messages[0])
                } @else {
                    ul { @for message in messages { li { (message) } } }
                }
            }
        }
    }
}

/// A labelled text input.
pub fn text_input(id: &str, name: &str, label: &str, value: &str, required: bool) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) @if required { " *" } }
            input id=(id) type="text" name=(name) value=(value) required[required];
        }
    }
}

/// A labelled select; `options` are (value, title); an empty first option
/// unless `required`.
pub fn select(
    id: &str,
    name: &str,
    label: &str,
    options: &[(String, String)],
    selected: Option<&str>,
    required: bool,
) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) @if required { " *" } }
            select id=(id) name=(name) required[required] {
                @if !required || selected.is_none() { option value="" { "—" } }
                @for (value, title) in options {
                    option value=(value) selected[selected == Some(value.as_str())] { (title) }
                }
            }
        }
    }
}

/// The options of a standard dictionary in the viewer's language.
pub fn dictionary_options(
    dictionaries: &voronka_crm::Dictionaries,
    name: &str,
    lang: Lang,
) -> Vec<(String, String)> {
    dictionaries
        .get(name)
        .unwrap_or_default()
        .iter()
        .map(|entry| (entry.value.clone(), lang.entry(entry).to_owned()))
        .collect()
}

/// A dictionary value's title (the value itself when unknown).
pub fn dictionary_title(
    dictionaries: &voronka_crm::Dictionaries,
    name: &str,
    value: &str,
    lang: Lang,
) -> String {
    dictionaries
        .get(name)
        .and_then(|entries| entries.iter().find(|e| e.value == value))
        .map_or_else(|| value.to_owned(), |entry| lang.entry(entry).to_owned())
}
