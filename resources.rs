// The resources added with `cargo xtask new-resource`, one line each: `name: Service`
// (the plural route name, and the service type in that module).
//
// This file is the one list of them. Every crate includes it and expands the list with a
// macro of its own: `models`, `domain` and `repos` declare a module per resource, `services`
// also builds each service, `api` routes and documents each one, and the repos and e2e
// suites run each one's cases. See docs/extending.md.
macro_rules! with_resources {
    ($expand:ident) => {
        $expand! {
        }
    };
}
