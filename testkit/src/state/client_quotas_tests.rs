//! The quota configuration model against the answers Apache Kafka 4.1.1 gave to the same
//! alterations and filters.

use super::*;

fn entity(parts: &[(&str, Option<&str>)]) -> QuotaEntity {
    QuotaEntity::from_parts(
        parts
            .iter()
            .map(|(t, n)| ((*t).to_owned(), n.map(str::to_owned))),
    )
}

fn set(key: &str, value: f64) -> QuotaOp {
    QuotaOp {
        key: key.into(),
        value: Some(value),
    }
}

fn remove(key: &str) -> QuotaOp {
    QuotaOp {
        key: key.into(),
        value: None,
    }
}

/// The single result of altering one entity.
fn alter_one(
    c: &mut ClientQuotaConfigs,
    e: &QuotaEntity,
    ops: Vec<QuotaOp>,
    validate_only: bool,
) -> Result<(), QuotaRefusal> {
    let mut r = c.alter(vec![(e.clone(), ops)], validate_only);
    assert_eq!(r.len(), 1);
    r.remove(0).1
}

fn refused(r: Result<(), QuotaRefusal>) -> (i16, String) {
    let e = r.unwrap_err();
    (e.code, e.message)
}

fn filter(t: &str, match_type: i8, name: Option<&str>) -> FilterComponent {
    FilterComponent {
        entity_type: t.into(),
        match_type,
        name: name.map(str::to_owned),
    }
}

#[test]
fn set_validate_only_and_remove() {
    let mut c = ClientQuotaConfigs::default();
    let e = QuotaEntity::client_id(Some("c"));
    assert_eq!(
        alter_one(&mut c, &e, vec![set(PRODUCER_BYTE_RATE, 1024.0)], true),
        Ok(())
    );
    assert_eq!(
        c.get(&e, PRODUCER_BYTE_RATE),
        None,
        "validate_only changes nothing"
    );
    alter_one(&mut c, &e, vec![set(PRODUCER_BYTE_RATE, 1024.0)], false).unwrap();
    assert_eq!(c.get(&e, PRODUCER_BYTE_RATE), Some(1024.0));
    alter_one(&mut c, &e, vec![remove(PRODUCER_BYTE_RATE)], true).unwrap();
    assert_eq!(c.get(&e, PRODUCER_BYTE_RATE), Some(1024.0));
    alter_one(&mut c, &e, vec![remove(PRODUCER_BYTE_RATE)], false).unwrap();
    assert_eq!(c.all().count(), 0, "an entity without values is gone");
    // Removing what is not set, even an unknown key, succeeds (Kafka writes no record).
    assert_eq!(alter_one(&mut c, &e, vec![remove("bogus")], false), Ok(()));
}

#[test]
fn kafkas_refusals_and_messages() {
    let mut c = ClientQuotaConfigs::default();
    let cid = QuotaEntity::client_id(Some("c"));
    let cases: Vec<(QuotaEntity, QuotaOp, &str)> = vec![
        (
            cid.clone(),
            set("bogus", 1.0),
            "Invalid configuration key bogus",
        ),
        (
            entity(&[("group", Some("c"))]),
            set(PRODUCER_BYTE_RATE, 1.0),
            "Unhandled client quota entity type: group",
        ),
        (
            cid.clone(),
            set(PRODUCER_BYTE_RATE, 1.5),
            "producer_byte_rate cannot be a fractional value.",
        ),
        (
            cid.clone(),
            set(PRODUCER_BYTE_RATE, 0.0),
            "Quota producer_byte_rate must be greater than 0",
        ),
        (
            cid.clone(),
            set(REQUEST_PERCENTAGE, -1.0),
            "Quota request_percentage must be greater than 0",
        ),
        (
            cid.clone(),
            set(PRODUCER_BYTE_RATE, 1e30),
            "Proposed value for producer_byte_rate is too large for a LONG.",
        ),
        (
            QuotaEntity::default(),
            set(PRODUCER_BYTE_RATE, 1.0),
            "Invalid empty client quota entity",
        ),
        (
            QuotaEntity::client_id(Some("")),
            set(PRODUCER_BYTE_RATE, 1.0),
            "Empty client-id not supported",
        ),
        (
            entity(&[("ip", Some("127.0.0.1")), ("client-id", Some("c"))]),
            set(PRODUCER_BYTE_RATE, 1.0),
            "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
        ),
        (
            entity(&[("ip", Some("no.such.host.invalid"))]),
            set(CONNECTION_CREATION_RATE, 1.0),
            "no.such.host.invalid is not a valid IP or resolvable host.",
        ),
        (
            entity(&[("ip", Some("127.0.0.1"))]),
            set(PRODUCER_BYTE_RATE, 1.0),
            "Invalid configuration key producer_byte_rate",
        ),
    ];
    for (e, op, message) in cases {
        let got = refused(alter_one(&mut c, &e, vec![op.clone()], false));
        assert_eq!(
            got,
            (codes::INVALID_REQUEST, message.to_owned()),
            "{e:?} {op:?}"
        );
    }
    assert_eq!(c.all().count(), 0, "nothing refused was stored");
}

#[test]
fn accepted_keys_per_entity_type() {
    let mut c = ClientQuotaConfigs::default();
    let user_client = entity(&[("user", Some("alice")), ("client-id", None)]);
    for (e, op) in [
        (user_client.clone(), set(REQUEST_PERCENTAGE, 12.5)),
        (
            QuotaEntity::client_id(None),
            set(CONTROLLER_MUTATION_RATE, 2.5),
        ),
        (
            QuotaEntity::client_id(Some("c")),
            set(CONSUMER_BYTE_RATE, 2048.0),
        ),
        (entity(&[("user", None)]), set(PRODUCER_BYTE_RATE, 1.0)),
        (
            entity(&[("ip", Some("::1"))]),
            set(CONNECTION_CREATION_RATE, 5.0),
        ),
        (entity(&[("ip", None)]), set(CONNECTION_CREATION_RATE, 5.0)),
        // NaN passes every check of Kafka's (comparisons with NaN are false).
        (
            QuotaEntity::client_id(Some("n")),
            set(REQUEST_PERCENTAGE, f64::NAN),
        ),
    ] {
        assert_eq!(
            alter_one(&mut c, &e, vec![op.clone()], false),
            Ok(()),
            "{e:?} {op:?}"
        );
    }
    assert_eq!(c.get(&user_client, REQUEST_PERCENTAGE), Some(12.5));
    // Components print in Kafka's order.
    let parts: Vec<_> = user_client.parts().collect();
    assert_eq!(parts, [("client-id", None), ("user", Some("alice"))]);
}

#[test]
fn one_bad_key_refuses_the_whole_entity() {
    let mut c = ClientQuotaConfigs::default();
    let e = QuotaEntity::client_id(Some("c"));
    let r = alter_one(
        &mut c,
        &e,
        vec![set(CONSUMER_BYTE_RATE, 5.0), set("bogus", 1.0)],
        false,
    );
    assert_eq!(refused(r).1, "Invalid configuration key bogus");
    assert_eq!(c.get(&e, CONSUMER_BYTE_RATE), None);
}

#[test]
fn entries_are_independent_and_duplicates_keep_kafkas_quirks() {
    let mut c = ClientQuotaConfigs::default();
    let e = QuotaEntity::client_id(Some("c"));
    // a good and a bad entity in one request: the good one is applied
    let r = c.alter(
        vec![
            (e.clone(), vec![set(CONSUMER_BYTE_RATE, 7.0)]),
            (entity(&[("group", None)]), vec![set("x", 1.0)]),
        ],
        false,
    );
    assert_eq!(r[0].1, Ok(()));
    assert_eq!(
        refused(r[1].1.clone()).1,
        "Unhandled client quota entity type: group"
    );
    assert_eq!(c.get(&e, CONSUMER_BYTE_RATE), Some(7.0));
    // a repeated key
    let r = alter_one(
        &mut c,
        &e,
        vec![set(PRODUCER_BYTE_RATE, 1.0), set(PRODUCER_BYTE_RATE, 2.0)],
        false,
    );
    let message = "Ignoring duplicate entity ClientQuotaEntity(entries={client-id=c})";
    assert_eq!(refused(r), (codes::INVALID_REQUEST, message.to_owned()));
    assert_eq!(c.get(&e, PRODUCER_BYTE_RATE), None);
    // an entity named twice: one result, an error, and yet the first entry is applied
    let r = c.alter(
        vec![
            (e.clone(), vec![set(CONSUMER_BYTE_RATE, 9.0)]),
            (e.clone(), vec![set(CONSUMER_BYTE_RATE, 11.0)]),
        ],
        false,
    );
    assert_eq!(r.len(), 1);
    assert_eq!(refused(r[0].1.clone()).1, message);
    assert_eq!(c.get(&e, CONSUMER_BYTE_RATE), Some(9.0));
    // a type named twice in one entity keeps the last name
    let twice = QuotaEntity::from_parts([
        (CLIENT_ID.to_owned(), Some("c".to_owned())),
        (CLIENT_ID.to_owned(), Some("other".to_owned())),
    ]);
    assert_eq!(twice, QuotaEntity::client_id(Some("other")));
}

#[test]
fn describe_matches_like_kafkas_image() {
    let mut c = ClientQuotaConfigs::default();
    let named = QuotaEntity::client_id(Some("c"));
    let default = QuotaEntity::client_id(None);
    let alice_default = entity(&[("user", Some("alice")), ("client-id", None)]);
    let alice_named = entity(&[("user", Some("alice")), ("client-id", Some("n"))]);
    for (e, v) in [
        (&named, 1.0),
        (&default, 2.0),
        (&alice_default, 3.0),
        (&alice_named, 4.0),
    ] {
        c.set(e, REQUEST_PERCENTAGE, Some(v));
    }
    let names = |f: &[FilterComponent], strict: bool| -> Vec<QuotaEntity> {
        c.describe(f, strict)
            .unwrap()
            .into_iter()
            .map(|(e, _)| e)
            .collect()
    };
    assert_eq!(names(&[], false).len(), 4, "no filter: everything");
    assert!(names(&[], true).is_empty(), "no filter, strict: nothing");
    assert_eq!(
        names(&[filter(CLIENT_ID, 0, Some("c"))], true),
        std::slice::from_ref(&named)
    );
    assert_eq!(
        names(&[filter(CLIENT_ID, 1, None)], true),
        std::slice::from_ref(&default)
    );
    assert_eq!(
        names(&[filter(CLIENT_ID, 1, None)], false),
        [default.clone(), alice_default.clone()]
    );
    // "any" includes the default entity, as Kafka 4.1.1 answers (the schema says "specified")
    let any_of_alice = names(
        &[filter(USER, 0, Some("alice")), filter(CLIENT_ID, 2, None)],
        false,
    );
    assert_eq!(any_of_alice, [alice_default.clone(), alice_named.clone()]);
    assert!(names(&[filter(USER, 0, Some("alice"))], true).is_empty());
    assert_eq!(names(&[filter(USER, 0, Some("alice"))], false).len(), 2);
}

#[test]
fn describe_refusals() {
    let c = ClientQuotaConfigs::default();
    let cases: Vec<(Vec<FilterComponent>, i16, &str)> = vec![
        (
            vec![filter("group", 2, None)],
            codes::UNSUPPORTED_VERSION,
            "Unsupported entity type group",
        ),
        (
            vec![filter(CLIENT_ID, 0, None)],
            codes::INVALID_REQUEST,
            "Request specified MATCH_TYPE_EXACT, but set match string to null.",
        ),
        (
            vec![filter(CLIENT_ID, 1, Some("x"))],
            codes::INVALID_REQUEST,
            "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
        ),
        (
            vec![filter(CLIENT_ID, 7, None)],
            codes::INVALID_REQUEST,
            "Unknown match type 7",
        ),
        (
            vec![filter("", 2, None)],
            codes::INVALID_REQUEST,
            "Invalid empty entity type.",
        ),
        (
            vec![filter(CLIENT_ID, 2, None), filter(CLIENT_ID, 1, None)],
            codes::INVALID_REQUEST,
            "Entity type client-id cannot appear more than once in the filter.",
        ),
        (
            vec![filter(IP, 2, None), filter(CLIENT_ID, 1, None)],
            codes::INVALID_REQUEST,
            "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.",
        ),
    ];
    for (f, code, message) in cases {
        let e = c.describe(&f, false).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (code, message), "{f:?}");
    }
}
