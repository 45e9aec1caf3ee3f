//! The README's rows for the resource, in its table of routes.

use crate::spec::Resource;

pub fn rows(r: &Resource) -> String {
    let t = &r.plural;
    let all: Vec<String> = r
        .fields
        .iter()
        .map(|f| {
            if f.required() {
                f.name.clone()
            } else {
                format!("{}?", f.name)
            }
        })
        .collect();
    let patch: Vec<String> = r.fields.iter().map(|f| format!("{}?", f.name)).collect();
    let mut query = vec!["limit=".to_owned(), "cursor=".to_owned()];
    query.extend(r.flags().map(|f| format!("{}=", f.name)));
    let s = &r.singular;
    format!(
        "| POST /api/{t} `{{{all}}}` | yes | 201 {s}, `Location` | 422 |\n\
         | GET /api/{t}?{query} | yes | 200 `{{items,next_cursor}}` | 422 |\n\
         | GET /api/{t}/{{id}} | yes | 200 {s} | 404 |\n\
         | PATCH /api/{t}/{{id}} `{{{patch}}}` | yes | 200 {s} | 404, 422 |\n\
         | DELETE /api/{t}/{{id}} | yes | 204 | 404 |\n",
        all = all.join(","),
        patch = patch.join(","),
        query = query.join("&"),
    )
}
