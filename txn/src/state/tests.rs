use super::*;
use TxnState::*;

/// The allowed transitions written out one by one (independently of the `match` in
/// `can_transition_to`), so that a change to either shows up here.
const ALLOWED: &[(TxnState, TxnState)] = &[
    (Uninitialized, Initializing),
    (Initializing, Ready),
    (Ready, InTransaction),
    (InTransaction, Committing),
    (InTransaction, Aborting),
    (InTransaction, AbortableError),
    (Committing, Ready),
    (Committing, CommitOutcomeUnknown),
    (Committing, AbortableError),
    (CommitOutcomeUnknown, Committing),
    (Aborting, Ready),
    (Aborting, AbortOutcomeUnknown),
    (AbortOutcomeUnknown, Aborting),
    (AbortableError, AbortableError),
    (AbortableError, Aborting),
];

#[test]
fn transition_table_is_exactly_the_listed_one() {
    let mut checked = 0;
    for from in TxnState::ALL {
        for to in TxnState::ALL {
            let expected = if from == FatalError {
                false
            } else if to == FatalError {
                true
            } else {
                ALLOWED.contains(&(from, to))
            };
            assert_eq!(
                from.can_transition_to(to),
                expected,
                "transition {from} -> {to}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 100);
}

#[test]
fn fatal_is_sticky_and_reachable_from_everywhere() {
    for s in TxnState::ALL {
        assert!(!FatalError.can_transition_to(s), "FatalError -> {s}");
        if s != FatalError {
            assert!(s.can_transition_to(FatalError), "{s} -> FatalError");
        }
    }
}

#[test]
fn abortable_error_leads_only_to_abort() {
    let exits: Vec<_> = TxnState::ALL
        .into_iter()
        .filter(|&to| AbortableError.can_transition_to(to))
        .collect();
    assert_eq!(exits, vec![Aborting, AbortableError, FatalError]);
    for op in Op::ALL {
        match admit(AbortableError, op) {
            Ok(a) => {
                assert_eq!(op, Op::Abort);
                assert_eq!(a, Admit::Start { to: Aborting });
            }
            Err(r) => assert_eq!(r, Refusal::MustAbort, "{op}"),
        }
    }
}

/// The expected answer of every state to every operation, written out as a table.
fn expected(state: TxnState, op: Op) -> Result<Admit, Refusal> {
    use Admit::*;
    use Refusal::*;
    let row: [Result<Admit, Refusal>; 6] = match state {
        //                 init                        begin                         send                 offsets              commit                       abort
        Uninitialized => [
            Ok(Start { to: Initializing }),
            Err(NotInitialized),
            Err(NotInitialized),
            Err(NotInitialized),
            Err(NotInitialized),
            Err(NotInitialized),
        ],
        Initializing => [
            Ok(Resume { to: Initializing }),
            Err(NotInitialized),
            Err(NotInitialized),
            Err(NotInitialized),
            Err(NotInitialized),
            Err(NotInitialized),
        ],
        Ready => [
            Err(AlreadyInitialized),
            Ok(Start { to: InTransaction }),
            Err(NoTransaction),
            Err(NoTransaction),
            Err(NoTransaction),
            Err(NoTransaction),
        ],
        InTransaction => [
            Err(AlreadyInitialized),
            Err(AlreadyInTransaction),
            Ok(Within),
            Ok(Within),
            Ok(Start { to: Committing }),
            Ok(Start { to: Aborting }),
        ],
        Committing => [
            Err(AlreadyInitialized),
            Err(TransactionEnding),
            Err(TransactionEnding),
            Err(TransactionEnding),
            Ok(Resume { to: Committing }),
            Err(TransactionEnding),
        ],
        TxnState::CommitOutcomeUnknown => [
            Err(Refusal::CommitOutcomeUnknown),
            Err(Refusal::CommitOutcomeUnknown),
            Err(Refusal::CommitOutcomeUnknown),
            Err(Refusal::CommitOutcomeUnknown),
            Ok(Resume { to: Committing }),
            Err(Refusal::CommitOutcomeUnknown),
        ],
        Aborting => [
            Err(AlreadyInitialized),
            Err(TransactionEnding),
            Err(TransactionEnding),
            Err(TransactionEnding),
            Err(TransactionEnding),
            Ok(Resume { to: Aborting }),
        ],
        TxnState::AbortOutcomeUnknown => [
            Err(Refusal::AbortOutcomeUnknown),
            Err(Refusal::AbortOutcomeUnknown),
            Err(Refusal::AbortOutcomeUnknown),
            Err(Refusal::AbortOutcomeUnknown),
            Err(Refusal::AbortOutcomeUnknown),
            Ok(Resume { to: Aborting }),
        ],
        AbortableError => [
            Err(MustAbort),
            Err(MustAbort),
            Err(MustAbort),
            Err(MustAbort),
            Err(MustAbort),
            Ok(Start { to: Aborting }),
        ],
        FatalError => [Err(Fatal); 6],
    };
    let i = Op::ALL.iter().position(|&o| o == op).expect("op in ALL");
    row[i]
}

#[test]
fn every_operation_from_every_state() {
    for state in TxnState::ALL {
        for op in Op::ALL {
            assert_eq!(admit(state, op), expected(state, op), "{op} in {state}");
        }
    }
}

#[test]
fn admitted_operations_only_move_along_the_table() {
    for state in TxnState::ALL {
        for op in Op::ALL {
            if let Ok(Admit::Start { to } | Admit::Resume { to }) = admit(state, op)
                && to != state
            {
                assert!(
                    state.can_transition_to(to),
                    "{op} in {state} moves to {to}, which the table forbids"
                );
            }
        }
    }
}

#[test]
fn names_are_distinct() {
    let mut names: Vec<_> = TxnState::ALL.iter().map(|s| s.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), TxnState::ALL.len());
    assert_eq!(Op::Commit.to_string(), "commit_transaction");
    assert!(!Op::Send.changes_state());
    assert!(Op::SendOffsets.changes_state());
}
