//! An SMTP outage with two instances sharing the database: requests answer at once, and
//! when SMTP returns every mail is delivered exactly once.

use std::time::Duration;

use strata_e2e::TestApp;

use crate::{Case, Ctx};

pub const CASES: &[Case] =
    testkit::cases![mail_queued_while_smtp_is_down_is_delivered_once_when_it_returns];

fn mail_queued_while_smtp_is_down_is_delivered_once_when_it_returns(ctx: &Ctx) {
    let (_backing, mut smtp, env) = crate::isolated(ctx);
    let apps = [TestApp::spawn(&env).unwrap(), TestApp::spawn(&env).unwrap()];
    let emails: Vec<String> = (0..6)
        .map(|i| ctx.register_on(&apps[i % 2].address).1)
        .collect();
    // Attempts fail meanwhile (connection refused); the rows wait.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(smtp.messages().is_empty());
    // SMTP is not a readiness check; the backlog and the errors show in the metrics.
    let ready = ctx.send_to(&apps[0].address, "GET", "/ready", None, None);
    assert_eq!(ready.status, 200, "{}", ready.body);
    let metrics = ctx
        .http
        .get(format!("{}/metrics", apps[0].address))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for name in [
        "strata_mail_outbox_pending",
        "strata_mail_attempt_errors_total",
        "strata_mail_queued_total",
    ] {
        assert!(metrics.contains(name), "{name} is not in /metrics");
    }
    smtp.restart().unwrap();
    for e in &emails {
        assert_eq!(smtp.wait_for(e, 1).len(), 1, "{e} got no mail");
    }
    // Both workers keep polling: nothing is sent twice.
    std::thread::sleep(Duration::from_millis(1500));
    for e in &emails {
        assert_eq!(smtp.wait_for(e, 1).len(), 1, "{e} got a mail twice");
    }
}
