use super::*;

#[test]
fn print_schema_output_parses() {
    let schema = SchemaRs::parse(
        r#"
// @generated automatically by Diesel CLI.

diesel::table! {
/// Doc comments are fine.
posts (id) {
    id -> Integer,
    #[sql_name = "type"]
    kind -> Text,
    body -> Nullable<diesel::sql_types::Text>,
    rating -> diesel::sql_types::Nullable<Float8>,
}
}

diesel::table! {
use diesel::sql_types::*;

tags (post_id, name) {
    post_id -> Integer,
    name -> VarChar,
}
}

diesel::joinable!(tags -> posts (post_id));

diesel::allow_tables_to_appear_in_same_query!(posts, tags,);
"#,
    )
    .expect("parse");

    assert_eq!(schema.tables.len(), 2);
    let posts = &schema.tables[0];
    assert_eq!(posts.name, "posts");
    assert_eq!(posts.primary_key, ["id"]);
    let columns: Vec<(&str, &str, bool)> = posts
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.sql_type.as_str(), c.nullable))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "Integer", false),
            ("type", "Text", false),
            ("body", "Text", true),
            ("rating", "Double", true),
        ]
    );
    assert_eq!(schema.tables[1].primary_key, ["post_id", "name"]);
    assert_eq!(schema.tables[1].columns[1].sql_type, "Text");
    assert_eq!(
        schema.joinables,
        [("tags".to_owned(), "posts".to_owned(), "post_id".to_owned())]
    );
}

#[test]
fn declared_types_map_as_print_schema_maps_them() {
    for (declared, expected) in [
        ("TEXT", Some("Text")),
        ("VARCHAR(255)", Some("Text")),
        ("INTEGER", Some("Integer")),
        ("BIGINT", Some("BigInt")),
        ("SMALLINT", Some("SmallInt")),
        ("TINYINT", Some("Bool")),
        ("BOOLEAN", Some("Bool")),
        ("TIMESTAMP", Some("Timestamp")),
        ("DATETIME", Some("Timestamp")),
        ("DATE", Some("Date")),
        ("REAL", Some("Float")),
        ("DOUBLE PRECISION", Some("Double")),
        ("NUMERIC", Some("Double")),
        ("BLOB", Some("Binary")),
        ("", Some("Binary")),
        ("TIMESTAMPTZ", None),
        ("JSON", None),
    ] {
        assert_eq!(diesel_type_for(declared), expected, "{declared:?}");
    }
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(SchemaRs::parse("diesel::table! { posts (id) { id -> ").is_err());
    assert!(SchemaRs::parse("diesel::table! { posts (id) { id Integer } }").is_err());
    assert!(SchemaRs::parse("table! { x (id) { id -> Text } } @").is_err());
}
