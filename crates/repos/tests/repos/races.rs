//! `races::` cases: two writes to one account at once (two reset links, two change-of-address
//! links, one of each, a password change against a change-of-address link), many rounds
//! each. Whoever wins, the other gets the answer its work deserves (`NotFound`: its link
//! died with the winner's write), never a database error such as a deadlock.

use libtest_mimic::Trial;
use repos::mailed_tokens::kind;
use repos::{NewMail, NewMailedToken, RepoError, UserRecord};

use super::{hash, register, Ctx};

/// Rounds per pair: a lock-order bug lost about half of them on PostgreSQL and MariaDB.
const ROUNDS: usize = 30;

pub fn cases(ctx: &Ctx) -> Vec<Trial> {
    register(
        ctx,
        testkit::cases![
            two_reset_links_used_at_once_never_deadlock,
            two_change_of_address_links_used_at_once_never_deadlock,
            a_reset_and_a_change_of_address_at_once_never_deadlock,
            a_password_change_and_a_change_of_address_at_once_never_deadlock,
        ],
    )
}

/// One write of a race.
#[derive(Clone)]
enum Write {
    Reset(String),
    Verify(String),
    ChangePassword,
}

fn notice(to: &str) -> NewMail {
    NewMail {
        kind: "password_changed".into(),
        recipient: to.to_owned(),
        params: "{}".into(),
        sealed_token: None,
    }
}

/// A live token of `kind` for `email`, issued to `user`; returns its hash.
async fn issued(c: &Ctx, user: &UserRecord, kind: &'static str, email: &str) -> String {
    let hash = format!("{:0>64}", uuid::Uuid::new_v4().simple());
    let token = NewMailedToken {
        hash: hash.clone(),
        kind,
        email: email.to_owned(),
        expires_at: repos::now_utc() + chrono::Duration::seconds(600),
    };
    c.tokens.issue(&user.id, token, Vec::new()).await.unwrap();
    hash
}

async fn run(c: &Ctx, user: &UserRecord, write: Write) -> Result<(), RepoError> {
    match write {
        Write::Reset(h) => c
            .tokens
            .reset_password(&h, &hash("$2b$04$raced"), |to: &str, _: &_| {
                Some(notice(to))
            })
            .await
            .map(drop),
        Write::Verify(h) => c.tokens.verify_email(&h).await.map(drop),
        Write::ChangePassword => {
            c.users
                .update_password_hash(
                    &user.id,
                    0,
                    &hash("$2b$04$changed"),
                    Some(notice(&user.email)),
                )
                .await
        }
    }
}

/// Runs `pair` (made for a fresh user each round) at once, `ROUNDS` times; returns how
/// many of each side won. A loss must be `NotFound`; anything else fails the case.
fn race(c: &Ctx, pair: impl Fn(&Ctx, &UserRecord) -> [Write; 2]) -> [usize; 2] {
    let mut wins = [0, 0];
    for round in 0..ROUNDS {
        let user = c.block_on(c.fresh_user());
        let writes = pair(c, &user);
        let outcomes = c.block_on(async {
            let tasks: Vec<_> = writes
                .into_iter()
                .map(|w| {
                    let (c, user) = (c.clone(), user.clone());
                    tokio::spawn(async move { run(&c, &user, w).await })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        for (side, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Ok(()) => wins[side] += 1,
                Err(RepoError::NotFound) => {}
                Err(e) => panic!("round {round}, side {side}: {e:?}"),
            }
        }
        assert!(
            outcomes.iter().any(Result::is_ok),
            "round {round}: nobody won: {outcomes:?}"
        );
    }
    wins
}

fn two_reset_links_used_at_once_never_deadlock(c: Ctx) {
    let wins = race(&c, |c, u| {
        let a = c.block_on(issued(c, u, kind::PASSWORD_RESET, &u.email));
        let b = c.block_on(issued(c, u, kind::PASSWORD_RESET, &u.email));
        [Write::Reset(a), Write::Reset(b)]
    });
    // The winner's reset kills the other link.
    assert_eq!(wins[0] + wins[1], ROUNDS, "{wins:?}");
}

fn two_change_of_address_links_used_at_once_never_deadlock(c: Ctx) {
    let wins = race(&c, |c, u| {
        let a = c.block_on(issued(c, u, kind::CHANGE_EMAIL, &format!("a.{}", u.email)));
        let b = c.block_on(issued(c, u, kind::CHANGE_EMAIL, &format!("b.{}", u.email)));
        [Write::Verify(a), Write::Verify(b)]
    });
    assert_eq!(wins[0] + wins[1], ROUNDS, "{wins:?}");
}

fn a_reset_and_a_change_of_address_at_once_never_deadlock(c: Ctx) {
    let wins = race(&c, |c, u| {
        let reset = c.block_on(issued(c, u, kind::PASSWORD_RESET, &u.email));
        let change = c.block_on(issued(
            c,
            u,
            kind::CHANGE_EMAIL,
            &format!("new.{}", u.email),
        ));
        [Write::Reset(reset), Write::Verify(change)]
    });
    // Either kills the other: a reset ends pending changes, a change kills links mailed to
    // the old address.
    assert_eq!(wins[0] + wins[1], ROUNDS, "{wins:?}");
}

fn a_password_change_and_a_change_of_address_at_once_never_deadlock(c: Ctx) {
    let wins = race(&c, |c, u| {
        let change = c.block_on(issued(
            c,
            u,
            kind::CHANGE_EMAIL,
            &format!("new.{}", u.email),
        ));
        [Write::ChangePassword, Write::Verify(change)]
    });
    // The password change always applies (a change of address leaves the password alone).
    assert_eq!(wins[0], ROUNDS, "{wins:?}");
}
