//! `voronka serve --demo`: gives a first-time user something to sign in to.
//! Seeds only a database that has no users yet, so it can never touch a
//! real organisation's data. (Demo companies and deals come with the CRM
//! domain.)

use anyhow::Context;
use std::collections::BTreeSet;
use voronka_app::directory::{Directory, NewUser};
use voronka_core::{Actor, Role};

/// The password of every demo user; printed on start, never for real data.
pub const DEMO_PASSWORD: &str = "voronka-demo-2026";

/// The demo users: email, display name, role, and whether they sit in the
/// Moscow team (else the sales department itself).
const DEMO_USERS: [(&str, &str, Role, bool); 3] = [
    (
        "admin@demo.voronka",
        "Администратор",
        Role::Administrator,
        false,
    ),
    (
        "head@demo.voronka",
        "Ольга Смирнова",
        Role::HeadOfDepartment,
        false,
    ),
    ("anna@demo.voronka", "Анна Петрова", Role::Manager, true),
];

/// Seeds the demo organisation if there are no users; returns whether it did.
pub async fn seed(directory: &Directory) -> anyhow::Result<bool> {
    if !directory
        .is_empty()
        .await
        .context("cannot read the users")?
    {
        return Ok(false);
    }
    let by = Actor::system("demo");
    let sales = directory
        .add_department("Отдел продаж", None, &by)
        .await
        .context("cannot create the demo department")?;
    let moscow = directory
        .add_department("Москва", Some(sales), &by)
        .await
        .context("cannot create the demo team")?;
    for (email, name, role, in_moscow) in DEMO_USERS {
        let new = NewUser {
            email: email.to_owned(),
            display_name: name.to_owned(),
            password: DEMO_PASSWORD.to_owned(),
            roles: BTreeSet::from([role]),
            department: if in_moscow { moscow } else { sales },
        };
        directory
            .add_user(new, &by)
            .await
            .with_context(|| format!("cannot create the demo user {email}"))?;
    }
    println!("demo: sign in as admin@demo.voronka, head@demo.voronka or anna@demo.voronka with the password {DEMO_PASSWORD}");
    Ok(true)
}
