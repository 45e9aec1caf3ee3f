//! One budget of mails per address and hour (`MAIL_MAX_PER_ADDRESS`, 5 here), whatever
//! the kind and whoever asks: notices count, deleting the account does not give the
//! budget back, and `+tag` sub-addresses share their mailbox's. Counted in the outbox,
//! where a request writes its mails before it answers.

use serde_json::json;

use crate::storage::queued_kinds;
use crate::{Case, Ctx};

/// The suite's app runs with the default budget.
const BUDGET: usize = 5;

pub const CASES: &[Case] = testkit::cases![
    fifteen_password_changes_mail_no_more_than_the_address_budget,
    registering_deleting_and_registering_an_address_again_mails_no_more_than_its_budget,
    sub_addresses_of_one_mailbox_share_its_budget,
];

fn fifteen_password_changes_mail_no_more_than_the_address_budget(ctx: &Ctx) {
    // Someone who registered this address (no proof needed) changes the password again
    // and again: each change used to mail the address's owner a notice.
    let (name, email, password) = ctx.register();
    let access = ctx.login(&name, &password).unwrap();
    let mut current = password;
    for i in 0..15 {
        let new = format!("changed password {i} of {name}");
        let r = ctx.send(
            "PUT",
            "/api/users/me/password",
            Some(&access),
            Some(json!({ "current_password": current, "new_password": new })),
        );
        assert_eq!(r.status, 204, "change {i}: {}", r.body);
        current = new;
    }
    let kinds = queued_kinds(ctx, &email);
    assert_eq!(kinds.len(), BUDGET, "{kinds:?}");
    assert_eq!(kinds[0], "verify_email", "{kinds:?}");
    assert!(
        kinds[1..].iter().all(|k| k == "password_changed"),
        "{kinds:?}"
    );
    // What was queued is what arrives.
    assert_eq!(ctx.smtp.wait_for(&email, BUDGET).len(), BUDGET);
}

fn registering_deleting_and_registering_an_address_again_mails_no_more_than_its_budget(ctx: &Ctx) {
    let base = testkit::random_name("cycle");
    let email = format!("{base}@example.com");
    for cycle in 0..7 {
        let (name, password) = (format!("{base}-{cycle}"), format!("pw of {base}"));
        let r = ctx.send(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({ "username": name, "email": email, "password": password })),
        );
        assert_eq!(r.status, 201, "cycle {cycle}: {}", r.body);
        let access = ctx.login(&name, &password).unwrap();
        let r = ctx.send(
            "DELETE",
            "/api/users/me",
            Some(&access),
            Some(json!({ "password": password })),
        );
        assert_eq!(r.status, 204, "cycle {cycle}: {}", r.body);
    }
    let kinds = queued_kinds(ctx, &email);
    assert_eq!(kinds, vec!["verify_email"; BUDGET]);
}

fn sub_addresses_of_one_mailbox_share_its_budget(ctx: &Ctx) {
    let base = testkit::random_name("box");
    let addresses: Vec<String> = (0..7).map(|i| format!("{base}+{i}@example.com")).collect();
    for (i, email) in addresses.iter().enumerate() {
        let r = ctx.send(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({ "username": format!("{base}-{i}"), "email": email, "password": format!("pw of {base}") })),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let queued: usize = addresses.iter().map(|a| queued_kinds(ctx, a).len()).sum();
    assert_eq!(queued, BUDGET);
}
