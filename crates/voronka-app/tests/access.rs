//! Access rules as tables: who sees which record, who may do what, and the
//! password and token mechanics. Each table runs through one `check`-style
//! function that reports every failing row at once.

use std::collections::BTreeSet;

use chrono::{Duration, TimeZone, Utc};
use voronka_app::access::rights::{reason, RIGHTS};
use voronka_app::access::{
    authorize_on_record, can_see, can_see_contact_personal_data, check_password_policy,
    hash_new_password, hash_password, may_edit_contact_personal_data, may_log_activity_for,
    may_manage_users, may_step_deal, verify_password, AccessDenied, Action, Department,
    DepartmentError, DepartmentId, DepartmentTree, PasswordError, PasswordHash,
    PasswordPolicyError, RecordAccessError, RecordKind, RecordOwnership, Scope, Token, TokenError,
    TokenHash, TokenKind, User, UserId,
};
use voronka_core::{Role, Timestamp};

// ---------------------------------------------------------------- fixture

fn department(n: u8) -> DepartmentId {
    DepartmentId::from_parts(1, [n; 10])
}

const COMPANY: u8 = 1;
const SALES: u8 = 2;
const MOSCOW: u8 = 3;
const SPB: u8 = 4;

/// company -> sales -> {moscow, spb}
fn tree() -> DepartmentTree {
    let mut tree = DepartmentTree::new();
    for (id, name, parent) in [
        (COMPANY, "company", None),
        (SALES, "sales", Some(COMPANY)),
        (MOSCOW, "moscow", Some(SALES)),
        (SPB, "spb", Some(SALES)),
    ] {
        let added = tree.add(Department {
            id: department(id),
            name: name.to_owned(),
            parent: parent.map(department),
        });
        assert_eq!(added, Ok(()), "fixture department {name}");
    }
    tree
}

/// The cast, by name: (name, roles, department, active).
const PEOPLE: &[(&str, &[Role], u8, bool)] = &[
    ("anna_manager_moscow", &[Role::Manager], MOSCOW, true),
    ("boris_manager_moscow", &[Role::Manager], MOSCOW, true),
    ("sveta_manager_spb", &[Role::Manager], SPB, true),
    ("head_moscow", &[Role::HeadOfDepartment], MOSCOW, true),
    ("head_of_sales", &[Role::HeadOfSales], SALES, true),
    ("director", &[Role::Director], COMPANY, true),
    ("admin", &[Role::Administrator], COMPANY, true),
    ("operator", &[Role::Operator], COMPANY, true),
    ("analyst", &[Role::Analyst], COMPANY, true),
    ("gone_director", &[Role::Director], COMPANY, false),
    (
        "manager_and_head",
        &[Role::Manager, Role::HeadOfDepartment],
        SPB,
        true,
    ),
];

fn user(name: &str) -> User {
    let index = PEOPLE
        .iter()
        .position(|(n, ..)| *n == name)
        .unwrap_or_else(|| panic!("no such person in the fixture: {name}"));
    let (name, roles, dept, active) = PEOPLE[index];
    User {
        id: UserId::from_parts(2, [index as u8 + 1; 10]),
        email: format!("{name}@example.test"),
        display_name: name.to_owned(),
        roles: roles.iter().copied().collect(),
        department: department(dept),
        active,
    }
}

/// A record owned by the named person, in their department.
fn record_of(name: &str) -> RecordOwnership {
    let owner = user(name);
    RecordOwnership {
        responsible: owner.id,
        department: owner.department,
    }
}

const RECORDS: [&str; 3] = [
    "anna_manager_moscow",
    "boris_manager_moscow",
    "sveta_manager_spb",
];

/// Runs `decide(viewer, record_owner)` over a table of expectations and
/// reports every row that disagrees.
fn check_table(
    what: &str,
    table: &[(&str, &str, bool)],
    decide: impl Fn(&User, RecordOwnership) -> bool,
) {
    let failures: Vec<String> = table
        .iter()
        .filter(|(viewer, owner, expected)| decide(&user(viewer), record_of(owner)) != *expected)
        .map(|(viewer, owner, expected)| {
            format!("{what}: {viewer} on {owner}'s record: expected {expected}")
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Expands "viewer sees exactly these of RECORDS" into a full table.
fn sees_exactly(
    rows: &[(&'static str, &[&'static str])],
) -> Vec<(&'static str, &'static str, bool)> {
    rows.iter()
        .flat_map(|(viewer, seen)| {
            RECORDS
                .iter()
                .map(move |owner| (*viewer, *owner, seen.contains(owner)))
        })
        .collect()
}

const ANNA: &str = "anna_manager_moscow";
const BORIS: &str = "boris_manager_moscow";
const SVETA: &str = "sveta_manager_spb";
const ALL_THREE: &[&str] = &[ANNA, BORIS, SVETA];

// ---------------------------------------------------------------- departments

#[test]
fn the_sales_subtree_holds_sales_moscow_and_spb_but_not_the_company() {
    let tree = tree();
    let expected: BTreeSet<_> = [SALES, MOSCOW, SPB].into_iter().map(department).collect();
    assert_eq!(tree.subtree(department(SALES)), expected);
    assert!(tree.is_within(department(MOSCOW), department(SALES)));
    assert!(tree.is_within(department(MOSCOW), department(MOSCOW)));
    assert!(!tree.is_within(department(MOSCOW), department(SPB)));
    assert!(!tree.is_within(department(SALES), department(MOSCOW)));
    assert!(tree.subtree(department(99)).is_empty());
}

#[test]
fn it_should_refuse_a_cycle_when_moving_a_department_under_its_descendant() {
    let mut tree = tree();
    for (moved, under) in [(SALES, MOSCOW), (COMPANY, SPB), (MOSCOW, MOSCOW)] {
        assert_eq!(
            tree.move_under(department(moved), Some(department(under))),
            Err(DepartmentError::WouldCreateCycle {
                department: department(moved),
                parent: department(under),
            }),
            "moving {moved} under {under}"
        );
    }
    assert_eq!(
        tree.add(Department {
            id: department(9),
            name: "loop".to_owned(),
            parent: Some(department(9)),
        })
        .map_err(|e| e.code()),
        Err("department_cycle")
    );
    // Nothing moved.
    assert_eq!(tree.subtree(department(SALES)).len(), 3);
    assert!(!tree.is_within(department(SALES), department(MOSCOW)));
}

// ---------------------------------------------------------------- visibility

#[test]
fn the_visibility_matrix_holds_for_every_role_over_sales_moscow_and_spb() {
    let table = sees_exactly(&[
        (ANNA, &[ANNA]),
        (BORIS, &[BORIS]),
        (SVETA, &[SVETA]),
        ("head_moscow", &[ANNA, BORIS]),
        ("head_of_sales", ALL_THREE),
        ("director", ALL_THREE),
        ("admin", ALL_THREE),
        ("operator", &[]),
        ("analyst", &[]),
        ("gone_director", &[]),
        ("manager_and_head", &[SVETA]),
    ]);
    let tree = tree();
    check_table("can_see", &table, |viewer, record| {
        can_see(viewer, &tree, record)
    });
}

#[test]
fn a_manager_cannot_see_another_managers_record_in_the_same_department() {
    assert!(!can_see(&user(ANNA), &tree(), record_of(BORIS)));
    assert!(can_see(&user(ANNA), &tree(), record_of(ANNA)));
}

#[test]
fn a_head_of_moscow_sees_moscow_but_not_spb() {
    let head = user("head_moscow");
    assert_eq!(
        Scope::of(&head, RecordKind::SalesRecord),
        Scope::DepartmentSubtree(department(MOSCOW))
    );
    assert!(can_see(&head, &tree(), record_of(ANNA)));
    assert!(!can_see(&head, &tree(), record_of(SVETA)));
}

#[test]
fn a_director_sees_all_and_a_deactivated_director_sees_nothing() {
    assert_eq!(
        Scope::of(&user("director"), RecordKind::SalesRecord),
        Scope::All
    );
    assert_eq!(
        Scope::of(&user("gone_director"), RecordKind::SalesRecord),
        Scope::Nothing
    );
}

#[test]
fn an_operator_sees_every_contacts_personal_data_but_no_sales_records() {
    let table: Vec<_> = RECORDS
        .iter()
        .flat_map(|owner| {
            [
                ("operator", *owner, true),
                (ANNA, *owner, *owner == ANNA),
                ("head_moscow", *owner, *owner != SVETA),
                ("analyst", *owner, false),
            ]
        })
        .collect();
    let tree = tree();
    check_table("can_see_contact_personal_data", &table, |viewer, record| {
        can_see_contact_personal_data(viewer, &tree, record)
    });
    assert_eq!(
        Scope::of(&user("operator"), RecordKind::SalesRecord),
        Scope::Nothing
    );
}

#[test]
fn a_user_with_several_roles_gets_the_widest_scope() {
    assert_eq!(
        Scope::of(&user("manager_and_head"), RecordKind::SalesRecord),
        Scope::DepartmentSubtree(department(SPB))
    );
}

// ---------------------------------------------------------------- rights

fn denial(result: Result<(), AccessDenied>) -> Option<&'static str> {
    result.err().map(|denied| denied.reason_code)
}

#[test]
fn only_operators_and_administrators_may_edit_contact_personal_data() {
    let table = [
        ("operator", None),
        ("admin", None),
        (ANNA, Some(reason::ROLE_LACKS_RIGHT)),
        ("head_of_sales", Some(reason::ROLE_LACKS_RIGHT)),
        ("director", Some(reason::ROLE_LACKS_RIGHT)),
        ("analyst", Some(reason::ROLE_LACKS_RIGHT)),
    ];
    for (who, expected) in table {
        assert_eq!(
            denial(may_edit_contact_personal_data(&user(who))),
            expected,
            "{who}"
        );
    }
}

#[test]
fn only_administrators_may_manage_users() {
    for (who, _, _, active) in PEOPLE {
        let expected = match (*who, active) {
            ("admin", _) => None,
            (_, false) => Some(reason::USER_INACTIVE),
            _ => Some(reason::ROLE_LACKS_RIGHT),
        };
        assert_eq!(denial(may_manage_users(&user(who))), expected, "{who}");
    }
}

/// (actor, owner of the deal or activity, expected denial code)
const STEP_AND_LOG_TABLE: &[(&str, &str, Option<&str>)] = &[
    (ANNA, ANNA, None),
    (ANNA, BORIS, Some(reason::NOT_RESPONSIBLE)),
    (ANNA, SVETA, Some(reason::NOT_RESPONSIBLE)),
    ("head_moscow", ANNA, None),
    ("head_moscow", BORIS, None),
    ("head_moscow", SVETA, Some(reason::OUTSIDE_DEPARTMENT)),
    ("head_of_sales", SVETA, None),
    ("director", SVETA, None),
    ("admin", ANNA, None),
    ("operator", ANNA, Some(reason::ROLE_LACKS_RIGHT)),
    ("analyst", ANNA, Some(reason::ROLE_LACKS_RIGHT)),
    ("gone_director", ANNA, Some(reason::USER_INACTIVE)),
];

#[test]
fn managers_step_their_own_deals_heads_their_subtree_directors_all() {
    let tree = tree();
    for (actor, owner, expected) in STEP_AND_LOG_TABLE {
        let result = may_step_deal(&user(actor), &tree, record_of(owner));
        assert_eq!(denial(result), *expected, "{actor} steps {owner}'s deal");
        if let Err(denied) = result {
            assert_eq!(denied.action, Action::StepDeal);
        }
    }
}

#[test]
fn managers_log_their_own_activities_heads_those_of_their_subtree() {
    let tree = tree();
    for (actor, owner, expected) in STEP_AND_LOG_TABLE {
        let result = may_log_activity_for(&user(actor), &tree, record_of(owner));
        assert_eq!(denial(result), *expected, "{actor} logs for {owner}");
    }
}

#[test]
fn it_should_answer_404_for_an_unseen_record_and_403_for_a_seen_one() {
    let tree = tree();
    // Another manager's deal: not seen, so it does not exist for Anna.
    assert_eq!(
        authorize_on_record(
            &user(ANNA),
            &tree,
            RecordKind::SalesRecord,
            Action::StepDeal,
            record_of(BORIS)
        ),
        Err(RecordAccessError::NotFound)
    );
    // Her own contact's personal data: seen, but only operators edit it.
    assert_eq!(
        authorize_on_record(
            &user(ANNA),
            &tree,
            RecordKind::ContactPersonalData,
            Action::EditContactPersonalData,
            record_of(ANNA)
        ),
        Err(RecordAccessError::Forbidden(AccessDenied {
            action: Action::EditContactPersonalData,
            reason_code: reason::ROLE_LACKS_RIGHT,
        }))
    );
    assert_eq!(
        authorize_on_record(
            &user("head_moscow"),
            &tree,
            RecordKind::SalesRecord,
            Action::StepDeal,
            record_of(BORIS)
        ),
        Ok(())
    );
}

#[test]
fn every_action_is_granted_to_someone_and_managing_users_only_to_administrators() {
    for action in Action::ALL {
        assert!(
            RIGHTS.iter().any(|(a, _, _)| *a == action),
            "{} has no row",
            action.as_str()
        );
    }
    let managers_of_users: Vec<Role> = RIGHTS
        .iter()
        .filter(|(a, _, _)| *a == Action::ManageUsers)
        .map(|(_, role, _)| *role)
        .collect();
    assert_eq!(managers_of_users, vec![Role::Administrator]);
}

// ---------------------------------------------------------------- passwords

const GOOD_PASSWORD: &str = "correct horse battery";

#[test]
fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
    let hash = hash_password(GOOD_PASSWORD).expect("hashing works");
    assert!(hash
        .as_phc_str()
        .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert_eq!(verify_password(GOOD_PASSWORD, &hash), Ok(()));
    assert_eq!(
        verify_password("correct horse battery!", &hash),
        Err(PasswordError::Mismatch)
    );
    assert_eq!(verify_password("", &hash), Err(PasswordError::Mismatch));
}

#[test]
fn the_same_password_hashes_differently_each_time_because_of_the_salt() {
    let first = hash_password(GOOD_PASSWORD).expect("hashing works");
    let second = hash_password(GOOD_PASSWORD).expect("hashing works");
    assert_ne!(first, second);
    assert_eq!(verify_password(GOOD_PASSWORD, &second), Ok(()));
}

#[test]
fn the_password_policy_refuses_short_repeated_and_email_passwords() {
    let email = "Anna.Petrova@example.test";
    let table: &[(&str, Option<&str>)] = &[
        ("short", Some("password_too_short")),
        ("123456789", Some("password_too_short")),
        ("пароль123", Some("password_too_short")), // 9 characters, 15 bytes
        (
            "aaaaaaaaaaaaaaaa",
            Some("password_single_repeated_character"),
        ),
        ("anna.petrova@example.test", Some("password_equals_email")),
        (" ANNA.PETROVA@EXAMPLE.TEST ", Some("password_equals_email")),
        ("длинный пароль", None),
        ("1234567890", None),
        (GOOD_PASSWORD, None),
    ];
    for (password, expected) in table {
        assert_eq!(
            check_password_policy(password, email)
                .err()
                .map(|e| e.code()),
            *expected,
            "{password:?}"
        );
    }
    assert_eq!(
        check_password_policy(&"ab".repeat(600), email),
        Err(PasswordPolicyError::TooLong { max: 1024 })
    );
    assert_eq!(
        hash_new_password("short", email).map_err(|e| e.code()),
        Err("password_too_short")
    );
}

#[test]
fn a_stored_hash_round_trips_through_serde_and_junk_is_refused() {
    let hash = hash_new_password(GOOD_PASSWORD, "a@example.test").expect("hashing works");
    let json = serde_json::to_string(&hash).expect("serializes");
    let back: PasswordHash = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(verify_password(GOOD_PASSWORD, &back), Ok(()));
    for junk in [
        "",
        "plaintext",
        "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
    ] {
        assert_eq!(
            PasswordHash::from_phc(junk.to_owned()),
            Err(PasswordError::MalformedHash),
            "{junk:?}"
        );
    }
}

// ---------------------------------------------------------------- tokens

fn at(hour: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 27, hour, 0, 0)
        .single()
        .expect("a valid fixture time")
}

fn issue(kind: TokenKind, random: [u8; 32]) -> voronka_app::access::IssuedToken {
    Token::issue(user(ANNA).id, kind, random, at(9), Duration::hours(12))
}

#[test]
fn a_freshly_issued_token_verifies_to_its_user() {
    let issued = issue(TokenKind::Session, [0x5a; 32]);
    let secret = issued.secret.expose();
    assert!(secret.starts_with("vrk_"));
    assert_eq!(secret.len(), 4 + 64);
    assert_eq!(
        TokenHash::of_presented(secret),
        Ok(issued.token.hash),
        "the lookup key is the stored hash"
    );
    assert_eq!(
        Token::verify(secret, Some(&issued.token), at(20)),
        Ok(user(ANNA).id)
    );
    assert_eq!(issued.token.expires_at, at(21));
}

#[test]
fn it_should_refuse_a_token_at_and_after_its_expiry() {
    let issued = issue(TokenKind::Api, [1; 32]);
    for now in [at(21), at(23)] {
        assert_eq!(
            Token::verify(issued.secret.expose(), Some(&issued.token), now),
            Err(TokenError::Expired)
        );
    }
}

#[test]
fn it_should_refuse_a_tampered_unknown_or_malformed_token() {
    let issued = issue(TokenKind::Session, [2; 32]);
    let secret = issued.secret.expose();
    let mut tampered = secret.to_owned();
    let last = if secret.ends_with('0') { "1" } else { "0" };
    tampered.replace_range(tampered.len() - 1.., last);

    let table: &[(&str, Option<&Token>, TokenError)] = &[
        (&tampered, Some(&issued.token), TokenError::Unknown),
        (secret, None, TokenError::Unknown),
        ("", Some(&issued.token), TokenError::Malformed),
        ("vrk_", Some(&issued.token), TokenError::Malformed),
        (&secret[4..], Some(&issued.token), TokenError::Malformed),
        (
            &secret[..secret.len() - 1],
            Some(&issued.token),
            TokenError::Malformed,
        ),
        (
            &secret.to_uppercase(),
            Some(&issued.token),
            TokenError::Malformed,
        ),
        (
            &format!("{secret}00"),
            Some(&issued.token),
            TokenError::Malformed,
        ),
    ];
    for (presented, stored, expected) in table {
        assert_eq!(
            Token::verify(presented, *stored, at(10)),
            Err(*expected),
            "{presented:?}"
        );
    }
}

#[test]
fn fresh_token_bytes_differ_between_calls() {
    let first = voronka_app::access::fresh_token_bytes().expect("entropy");
    let second = voronka_app::access::fresh_token_bytes().expect("entropy");
    assert_ne!(first, second);
}

#[test]
fn a_stored_token_round_trips_through_serde_without_its_secret() {
    let issued = issue(TokenKind::Api, [3; 32]);
    let json = serde_json::to_string(&issued.token).expect("serializes");
    assert!(!json.contains(&issued.secret.expose()[4..]));
    assert!(json.contains("\"kind\":\"api\""));
    let back: Token = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, issued.token);
}

#[test]
fn debug_output_never_contains_a_secret() {
    let issued = issue(TokenKind::Session, [0xab; 32]);
    let secret_hex = &issued.secret.expose()[4..];
    let full_hash = String::from(issued.token.hash);
    for printed in [
        format!("{issued:?}"),
        format!("{:?}", issued.secret),
        format!("{:?}", issued.token),
        format!("{:#?}", issued),
    ] {
        assert!(!printed.contains(secret_hex), "{printed}");
        assert!(!printed.contains(&full_hash), "{printed}");
    }

    let hash = hash_password(GOOD_PASSWORD).expect("hashing works");
    let printed = format!("{hash:?}");
    assert_eq!(printed, "PasswordHash(<redacted>)");
    assert!(!printed.contains("argon2"));
}
