//! Every Kafka error code, with its name, whether it is retriable and a short description.
//!
//! The codes, names and retriable flags are the facts of Apache Kafka's protocol guide
//! ("Error Codes", generated from `org.apache.kafka.common.protocol.Errors`): a code is
//! retriable when Kafka's exception for it is a `RetriableException`. Codes this table does not
//! know (from brokers newer than this crate) become [`ErrorCode::Unknown`], keep their number and
//! are not retriable, as the Java client treats them.
//!
//! ```
//! use klamm_protocol::error_code::ErrorCode;
//!
//! let e = ErrorCode::from_i16(6);
//! assert_eq!(e, ErrorCode::NotLeaderOrFollower);
//! assert_eq!(e.name(), "NOT_LEADER_OR_FOLLOWER");
//! assert!(e.is_retriable());
//! assert_eq!(ErrorCode::from_i16(-42), ErrorCode::Unknown(-42));
//! assert!(ErrorCode::from_i16(0).is_ok());
//! ```

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $name:literal, $retriable:literal, $desc:literal;)*) => {
        /// A Kafka protocol error code.
        ///
        /// Convert from the wire with [`ErrorCode::from_i16`] (never construct
        /// [`ErrorCode::Unknown`] with a known code yourself: it would not compare equal to the
        /// named variant).
        ///
        /// ```
        /// use klamm_protocol::error_code::ErrorCode;
        /// let code = ErrorCode::from_i16(6);
        /// assert_eq!(code, ErrorCode::NotLeaderOrFollower);
        /// assert!(code.is_retriable());
        /// assert_eq!(ErrorCode::from_i16(-42), ErrorCode::Unknown(-42));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = $desc]
                #[doc = ""]
                #[doc = concat!("Kafka name `", $name, "`, code ", stringify!($code), ", retriable: ", stringify!($retriable), ".")]
                $variant,
            )*
            /// A code this crate does not know (a newer broker); not retriable.
            Unknown(i16),
        }

        /// Every named error code, in code order (`-1` first).
        ///
        /// ```
        /// use klamm_protocol::error_code::{ALL, ErrorCode};
        /// assert_eq!(ALL[0], ErrorCode::UnknownServerError);
        /// assert!(ALL.iter().all(|c| ErrorCode::from_i16(c.as_i16()) == *c));
        /// ```
        pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

        impl ErrorCode {
            /// The error code for a value read from the wire; unknown values are kept in
            /// [`ErrorCode::Unknown`].
            ///
            /// ```
            /// use klamm_protocol::error_code::ErrorCode;
            /// assert_eq!(ErrorCode::from_i16(3), ErrorCode::UnknownTopicOrPartition);
            /// assert_eq!(ErrorCode::from_i16(9999), ErrorCode::Unknown(9999));
            /// ```
            pub const fn from_i16(code: i16) -> Self {
                match code {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// The value written on the wire.
            ///
            /// ```
            /// use klamm_protocol::error_code::ErrorCode;
            /// assert_eq!(ErrorCode::InvalidProducerEpoch.as_i16(), 47);
            /// assert_eq!(ErrorCode::Unknown(9999).as_i16(), 9999);
            /// ```
            pub const fn as_i16(self) -> i16 {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// Kafka's name for the code (`"UNKNOWN_TOPIC_OR_PARTITION"`), or `"UNKNOWN"` for an
            /// unknown code.
            ///
            /// ```
            /// use klamm_protocol::error_code::ErrorCode;
            /// assert_eq!(ErrorCode::from_i16(3).name(), "UNKNOWN_TOPIC_OR_PARTITION");
            /// ```
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Unknown(_) => "UNKNOWN",
                }
            }

            /// Whether Kafka's protocol guide calls the error retriable (the request may
            /// succeed if sent again, usually after a metadata refresh or a backoff).
            ///
            /// ```
            /// use klamm_protocol::error_code::ErrorCode;
            /// assert!(ErrorCode::RequestTimedOut.is_retriable());
            /// assert!(!ErrorCode::TopicAuthorizationFailed.is_retriable());
            /// ```
            pub const fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)*
                    ErrorCode::Unknown(_) => false,
                }
            }

            /// A one-sentence description, after Kafka's own message.
            ///
            /// ```
            /// use klamm_protocol::error_code::ErrorCode;
            /// assert!(!ErrorCode::CorruptMessage.description().is_empty());
            /// ```
            pub const fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $desc,)*
                    ErrorCode::Unknown(_) => "An error code this client does not know.",
                }
            }
        }
    };
}

error_codes! {
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR", false, "The server experienced an unexpected error when processing the request.";
    None = 0, "NONE", false, "No error.";
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false, "The requested offset is not within the range of offsets maintained by the server.";
    CorruptMessage = 2, "CORRUPT_MESSAGE", true, "The message failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt.";
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true, "This server does not host this topic-partition.";
    InvalidFetchSize = 4, "INVALID_FETCH_SIZE", false, "The requested fetch size is invalid.";
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true, "There is no leader for this topic-partition as a leader election is in progress.";
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER", true, "The broker is not the leader (or not a replica) of the partition.";
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true, "The request timed out.";
    BrokerNotAvailable = 8, "BROKER_NOT_AVAILABLE", false, "The broker is not available.";
    ReplicaNotAvailable = 9, "REPLICA_NOT_AVAILABLE", true, "The replica is not available for the requested topic-partition.";
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE", false, "The request included a message larger than the max message size the server will accept.";
    StaleControllerEpoch = 11, "STALE_CONTROLLER_EPOCH", false, "The controller moved to another broker.";
    OffsetMetadataTooLarge = 12, "OFFSET_METADATA_TOO_LARGE", false, "The metadata field of the offset request was too large.";
    NetworkException = 13, "NETWORK_EXCEPTION", true, "The server disconnected before a response was received.";
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS", true, "The coordinator is loading and hence can't process requests.";
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true, "The coordinator is not available.";
    NotCoordinator = 16, "NOT_COORDINATOR", true, "This is not the correct coordinator.";
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION", false, "The request attempted to perform an operation on an invalid topic.";
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE", false, "The request included a message batch larger than the configured segment size on the server.";
    NotEnoughReplicas = 19, "NOT_ENOUGH_REPLICAS", true, "Messages are rejected since there are fewer in-sync replicas than required.";
    NotEnoughReplicasAfterAppend = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true, "Messages are written to the log, but to fewer in-sync replicas than required.";
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS", false, "Produce request specified an invalid value for required acks.";
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false, "Specified group generation id is not valid.";
    InconsistentGroupProtocol = 23, "INCONSISTENT_GROUP_PROTOCOL", false, "The group member's supported protocols are incompatible with those of existing members.";
    InvalidGroupId = 24, "INVALID_GROUP_ID", false, "The group id is invalid.";
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false, "The coordinator is not aware of this member.";
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false, "The session timeout is not within the range allowed by the broker.";
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS", false, "The group is rebalancing, so a rejoin is needed.";
    InvalidCommitOffsetSize = 28, "INVALID_COMMIT_OFFSET_SIZE", false, "The committing offset data size is not valid.";
    TopicAuthorizationFailed = 29, "TOPIC_AUTHORIZATION_FAILED", false, "Topic authorization failed.";
    GroupAuthorizationFailed = 30, "GROUP_AUTHORIZATION_FAILED", false, "Group authorization failed.";
    ClusterAuthorizationFailed = 31, "CLUSTER_AUTHORIZATION_FAILED", false, "Cluster authorization failed.";
    InvalidTimestamp = 32, "INVALID_TIMESTAMP", false, "The timestamp of the message is out of acceptable range.";
    UnsupportedSaslMechanism = 33, "UNSUPPORTED_SASL_MECHANISM", false, "The broker does not support the requested SASL mechanism.";
    IllegalSaslState = 34, "ILLEGAL_SASL_STATE", false, "Request is not valid given the current SASL state.";
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION", false, "The version of API is not supported.";
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false, "Topic with this name already exists.";
    InvalidPartitions = 37, "INVALID_PARTITIONS", false, "Number of partitions is below 1.";
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR", false, "Replication factor is below 1 or larger than the number of available brokers.";
    InvalidReplicaAssignment = 39, "INVALID_REPLICA_ASSIGNMENT", false, "Replica assignment is invalid.";
    InvalidConfig = 40, "INVALID_CONFIG", false, "Configuration is invalid.";
    NotController = 41, "NOT_CONTROLLER", true, "This is not the correct controller for this cluster.";
    InvalidRequest = 42, "INVALID_REQUEST", false, "The request is malformed or was sent to an incompatible broker; see the broker logs.";
    UnsupportedForMessageFormat = 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false, "The message format version on the broker does not support the request.";
    PolicyViolation = 44, "POLICY_VIOLATION", false, "Request parameters do not satisfy the configured policy.";
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false, "The broker received an out of order sequence number.";
    DuplicateSequenceNumber = 46, "DUPLICATE_SEQUENCE_NUMBER", false, "The broker received a duplicate sequence number.";
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false, "Producer attempted to produce with an old epoch.";
    InvalidTxnState = 48, "INVALID_TXN_STATE", false, "The producer attempted a transactional operation in an invalid state.";
    InvalidProducerIdMapping = 49, "INVALID_PRODUCER_ID_MAPPING", false, "The producer attempted to use a producer id which is not currently assigned to its transactional id.";
    InvalidTransactionTimeout = 50, "INVALID_TRANSACTION_TIMEOUT", false, "The transaction timeout is larger than the maximum value allowed by the broker.";
    ConcurrentTransactions = 51, "CONCURRENT_TRANSACTIONS", true, "The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing.";
    TransactionCoordinatorFenced = 52, "TRANSACTION_COORDINATOR_FENCED", false, "The transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for the producer.";
    TransactionalIdAuthorizationFailed = 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false, "Transactional id authorization failed.";
    SecurityDisabled = 54, "SECURITY_DISABLED", false, "Security features are disabled.";
    OperationNotAttempted = 55, "OPERATION_NOT_ATTEMPTED", false, "The broker did not attempt this operation because others in the same batched request failed.";
    KafkaStorageError = 56, "KAFKA_STORAGE_ERROR", true, "Disk error when trying to access a log file on the disk.";
    LogDirNotFound = 57, "LOG_DIR_NOT_FOUND", false, "The user-specified log directory is not found in the broker config.";
    SaslAuthenticationFailed = 58, "SASL_AUTHENTICATION_FAILED", false, "SASL authentication failed.";
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID", false, "The broker could not locate the producer metadata associated with the producer id.";
    ReassignmentInProgress = 60, "REASSIGNMENT_IN_PROGRESS", false, "A partition reassignment is in progress.";
    DelegationTokenAuthDisabled = 61, "DELEGATION_TOKEN_AUTH_DISABLED", false, "Delegation token feature is not enabled.";
    DelegationTokenNotFound = 62, "DELEGATION_TOKEN_NOT_FOUND", false, "Delegation token is not found on server.";
    DelegationTokenOwnerMismatch = 63, "DELEGATION_TOKEN_OWNER_MISMATCH", false, "Specified principal is not a valid owner/renewer.";
    DelegationTokenRequestNotAllowed = 64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false, "Delegation token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels.";
    DelegationTokenAuthorizationFailed = 65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false, "Delegation token authorization failed.";
    DelegationTokenExpired = 66, "DELEGATION_TOKEN_EXPIRED", false, "Delegation token is expired.";
    InvalidPrincipalType = 67, "INVALID_PRINCIPAL_TYPE", false, "Supplied principal type is not supported.";
    NonEmptyGroup = 68, "NON_EMPTY_GROUP", false, "The group is not empty.";
    GroupIdNotFound = 69, "GROUP_ID_NOT_FOUND", false, "The group id does not exist.";
    FetchSessionIdNotFound = 70, "FETCH_SESSION_ID_NOT_FOUND", true, "The fetch session id was not found.";
    InvalidFetchSessionEpoch = 71, "INVALID_FETCH_SESSION_EPOCH", true, "The fetch session epoch is invalid.";
    ListenerNotFound = 72, "LISTENER_NOT_FOUND", true, "There is no listener on the leader broker that matches the listener on which the metadata request was processed.";
    TopicDeletionDisabled = 73, "TOPIC_DELETION_DISABLED", false, "Topic deletion is disabled.";
    FencedLeaderEpoch = 74, "FENCED_LEADER_EPOCH", true, "The leader epoch in the request is older than the epoch on the broker.";
    UnknownLeaderEpoch = 75, "UNKNOWN_LEADER_EPOCH", true, "The leader epoch in the request is newer than the epoch on the broker.";
    UnsupportedCompressionType = 76, "UNSUPPORTED_COMPRESSION_TYPE", false, "The requesting client does not support the compression type of the given partition.";
    StaleBrokerEpoch = 77, "STALE_BROKER_EPOCH", false, "Broker epoch has changed.";
    OffsetNotAvailable = 78, "OFFSET_NOT_AVAILABLE", true, "The leader high watermark has not caught up from a recent leader election, so the offsets cannot be guaranteed to be monotonically increasing.";
    MemberIdRequired = 79, "MEMBER_ID_REQUIRED", false, "The group member needs a valid member id before entering a consumer group.";
    PreferredLeaderNotAvailable = 80, "PREFERRED_LEADER_NOT_AVAILABLE", true, "The preferred leader was not available.";
    GroupMaxSizeReached = 81, "GROUP_MAX_SIZE_REACHED", false, "The group has reached its maximum size.";
    FencedInstanceId = 82, "FENCED_INSTANCE_ID", false, "Another consumer with the same group.instance.id has registered with a different member id.";
    EligibleLeadersNotAvailable = 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true, "Eligible topic partition leaders are not available.";
    ElectionNotNeeded = 84, "ELECTION_NOT_NEEDED", true, "Leader election not needed for topic partition.";
    NoReassignmentInProgress = 85, "NO_REASSIGNMENT_IN_PROGRESS", false, "No partition reassignment is in progress.";
    GroupSubscribedToTopic = 86, "GROUP_SUBSCRIBED_TO_TOPIC", false, "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.";
    InvalidRecord = 87, "INVALID_RECORD", false, "This record has failed the validation on the broker and hence will be rejected.";
    UnstableOffsetCommit = 88, "UNSTABLE_OFFSET_COMMIT", true, "There are unstable offsets that need to be cleared.";
    ThrottlingQuotaExceeded = 89, "THROTTLING_QUOTA_EXCEEDED", true, "The throttling quota has been exceeded.";
    ProducerFenced = 90, "PRODUCER_FENCED", false, "There is a newer producer with the same transactional id which fences the current one.";
    ResourceNotFound = 91, "RESOURCE_NOT_FOUND", false, "A request illegally referred to a resource that does not exist.";
    DuplicateResource = 92, "DUPLICATE_RESOURCE", false, "A request illegally referred to the same resource twice.";
    UnacceptableCredential = 93, "UNACCEPTABLE_CREDENTIAL", false, "Requested credential would not meet criteria for acceptability.";
    InconsistentVoterSet = 94, "INCONSISTENT_VOTER_SET", false, "Either the sender or the recipient of a voter-only request is not one of the expected voters.";
    InvalidUpdateVersion = 95, "INVALID_UPDATE_VERSION", false, "The given update version was invalid.";
    FeatureUpdateFailed = 96, "FEATURE_UPDATE_FAILED", false, "Unable to update finalized features due to an unexpected server error.";
    PrincipalDeserializationFailure = 97, "PRINCIPAL_DESERIALIZATION_FAILURE", false, "Request principal deserialization failed during forwarding.";
    SnapshotNotFound = 98, "SNAPSHOT_NOT_FOUND", false, "Requested snapshot was not found.";
    PositionOutOfRange = 99, "POSITION_OUT_OF_RANGE", false, "Requested position is not within the snapshot.";
    UnknownTopicId = 100, "UNKNOWN_TOPIC_ID", true, "This server does not host this topic id.";
    DuplicateBrokerRegistration = 101, "DUPLICATE_BROKER_REGISTRATION", false, "This broker id is already in use.";
    BrokerIdNotRegistered = 102, "BROKER_ID_NOT_REGISTERED", false, "The given broker id was not registered.";
    InconsistentTopicId = 103, "INCONSISTENT_TOPIC_ID", true, "The log's topic id did not match the topic id in the request.";
    InconsistentClusterId = 104, "INCONSISTENT_CLUSTER_ID", false, "The cluster id in the request does not match that found on the server.";
    TransactionalIdNotFound = 105, "TRANSACTIONAL_ID_NOT_FOUND", false, "The transactional id could not be found.";
    FetchSessionTopicIdError = 106, "FETCH_SESSION_TOPIC_ID_ERROR", true, "The fetch session encountered inconsistent topic id usage.";
    IneligibleReplica = 107, "INELIGIBLE_REPLICA", false, "The new ISR contains at least one ineligible replica.";
    NewLeaderElected = 108, "NEW_LEADER_ELECTED", false, "The AlterPartition request updated the partition state but the leader has changed.";
    OffsetMovedToTieredStorage = 109, "OFFSET_MOVED_TO_TIERED_STORAGE", false, "The requested offset is moved to tiered storage.";
    FencedMemberEpoch = 110, "FENCED_MEMBER_EPOCH", false, "The member epoch is fenced by the group coordinator; the member must rejoin.";
    UnreleasedInstanceId = 111, "UNRELEASED_INSTANCE_ID", false, "The instance id is still used by another member in the consumer group.";
    UnsupportedAssignor = 112, "UNSUPPORTED_ASSIGNOR", false, "The assignor or its version range is not supported by the consumer group.";
    StaleMemberEpoch = 113, "STALE_MEMBER_EPOCH", false, "The member epoch is stale; retry after receiving the updated member epoch.";
    MismatchedEndpointType = 114, "MISMATCHED_ENDPOINT_TYPE", false, "The request was sent to an endpoint of the wrong type.";
    UnsupportedEndpointType = 115, "UNSUPPORTED_ENDPOINT_TYPE", false, "This endpoint type is not supported yet.";
    UnknownControllerId = 116, "UNKNOWN_CONTROLLER_ID", false, "This controller id is not known.";
    UnknownSubscriptionId = 117, "UNKNOWN_SUBSCRIPTION_ID", false, "Client sent a push telemetry request with an invalid or outdated subscription id.";
    TelemetryTooLarge = 118, "TELEMETRY_TOO_LARGE", false, "Client sent a push telemetry request larger than the broker accepts.";
    InvalidRegistration = 119, "INVALID_REGISTRATION", false, "The controller has considered the broker registration to be invalid.";
    TransactionAbortable = 120, "TRANSACTION_ABORTABLE", false, "The server encountered an error with the transaction; the client can abort it to continue using this transactional id.";
    InvalidRecordState = 121, "INVALID_RECORD_STATE", false, "The record state is invalid; the acknowledgement of delivery could not be completed.";
    ShareSessionNotFound = 122, "SHARE_SESSION_NOT_FOUND", true, "The share session was not found.";
    InvalidShareSessionEpoch = 123, "INVALID_SHARE_SESSION_EPOCH", true, "The share session epoch is invalid.";
    FencedStateEpoch = 124, "FENCED_STATE_EPOCH", false, "The share coordinator rejected the request because the share-group state epoch did not match.";
    InvalidVoterKey = 125, "INVALID_VOTER_KEY", false, "The voter key doesn't match the receiving replica's key.";
    DuplicateVoter = 126, "DUPLICATE_VOTER", false, "The voter is already part of the set of voters.";
    VoterNotFound = 127, "VOTER_NOT_FOUND", false, "The voter is not part of the set of voters.";
    InvalidRegularExpression = 128, "INVALID_REGULAR_EXPRESSION", false, "The regular expression is not valid.";
    RebootstrapRequired = 129, "REBOOTSTRAP_REQUIRED", false, "Client metadata is stale; the client should rebootstrap to obtain new metadata.";
    StreamsInvalidTopology = 130, "STREAMS_INVALID_TOPOLOGY", false, "The supplied topology is invalid.";
    StreamsInvalidTopologyEpoch = 131, "STREAMS_INVALID_TOPOLOGY_EPOCH", false, "The supplied topology epoch is invalid.";
    StreamsTopologyFenced = 132, "STREAMS_TOPOLOGY_FENCED", false, "The supplied topology epoch is outdated.";
    ShareSessionLimitReached = 133, "SHARE_SESSION_LIMIT_REACHED", true, "The limit of share sessions has been reached.";
}

impl ErrorCode {
    /// Whether this is `NONE` (code 0): no error.
    ///
    /// ```
    /// use klamm_protocol::error_code::ErrorCode;
    /// assert!(ErrorCode::None.is_ok());
    /// assert!(!ErrorCode::UnknownServerError.is_ok());
    /// ```
    pub const fn is_ok(self) -> bool {
        self.as_i16() == 0
    }

    /// Whether this is an error (any code but 0).
    ///
    /// ```
    /// use klamm_protocol::error_code::ErrorCode;
    /// assert!(ErrorCode::from_i16(1).is_err());
    /// assert!(!ErrorCode::None.is_err());
    /// ```
    pub const fn is_err(self) -> bool {
        !self.is_ok()
    }

    /// `Ok(())` for `NONE`, `Err(self)` otherwise, for use with `?`.
    ///
    /// ```
    /// use klamm_protocol::error_code::ErrorCode;
    /// assert_eq!(ErrorCode::from_i16(0).into_result(), Ok(()));
    /// assert_eq!(ErrorCode::from_i16(3).into_result(), Err(ErrorCode::UnknownTopicOrPartition));
    /// ```
    pub const fn into_result(self) -> Result<(), ErrorCode> {
        if self.is_ok() { Ok(()) } else { Err(self) }
    }
}

// The enum is generated by a macro, so `#[default]` cannot mark `None`.
#[allow(clippy::derivable_impls)]
impl Default for ErrorCode {
    fn default() -> Self {
        ErrorCode::None
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        ErrorCode::from_i16(code)
    }
}

impl From<ErrorCode> for i16 {
    fn from(code: ErrorCode) -> Self {
        code.as_i16()
    }
}

impl std::fmt::Display for ErrorCode {
    /// `NAME (code): description`, e.g. `NOT_COORDINATOR (16): This is not the correct coordinator.`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.name(),
            self.as_i16(),
            self.description()
        )
    }
}

impl std::error::Error for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_round_trips() {
        for &e in ALL {
            assert_eq!(ErrorCode::from_i16(e.as_i16()), e, "{e:?}");
            assert!(!matches!(e, ErrorCode::Unknown(_)));
        }
        for code in i16::MIN..=i16::MAX {
            assert_eq!(ErrorCode::from_i16(code).as_i16(), code);
        }
    }

    #[test]
    fn table_is_contiguous_and_names_are_unique() {
        let codes: Vec<i16> = ALL.iter().map(|e| e.as_i16()).collect();
        let expected: Vec<i16> = (-1..=133).collect();
        assert_eq!(codes, expected);
        let names: HashSet<&str> = ALL.iter().map(|e| e.name()).collect();
        assert_eq!(names.len(), ALL.len());
        for e in ALL {
            assert!(e.name().chars().all(|c| c.is_ascii_uppercase() || c == '_'));
            assert!(!e.description().is_empty());
        }
    }

    #[test]
    fn known_facts() {
        use ErrorCode as E;
        let facts: &[(i16, E, &str, bool)] = &[
            (-1, E::UnknownServerError, "UNKNOWN_SERVER_ERROR", false),
            (0, E::None, "NONE", false),
            (2, E::CorruptMessage, "CORRUPT_MESSAGE", true),
            (
                3,
                E::UnknownTopicOrPartition,
                "UNKNOWN_TOPIC_OR_PARTITION",
                true,
            ),
            (6, E::NotLeaderOrFollower, "NOT_LEADER_OR_FOLLOWER", true),
            (10, E::MessageTooLarge, "MESSAGE_TOO_LARGE", false),
            (35, E::UnsupportedVersion, "UNSUPPORTED_VERSION", false),
            (
                45,
                E::OutOfOrderSequenceNumber,
                "OUT_OF_ORDER_SEQUENCE_NUMBER",
                false,
            ),
            (47, E::InvalidProducerEpoch, "INVALID_PRODUCER_EPOCH", false),
            (59, E::UnknownProducerId, "UNKNOWN_PRODUCER_ID", false),
            (79, E::MemberIdRequired, "MEMBER_ID_REQUIRED", false),
            (
                89,
                E::ThrottlingQuotaExceeded,
                "THROTTLING_QUOTA_EXCEEDED",
                true,
            ),
            (90, E::ProducerFenced, "PRODUCER_FENCED", false),
            (120, E::TransactionAbortable, "TRANSACTION_ABORTABLE", false),
            (
                133,
                E::ShareSessionLimitReached,
                "SHARE_SESSION_LIMIT_REACHED",
                true,
            ),
        ];
        for &(code, e, name, retriable) in facts {
            assert_eq!(ErrorCode::from_i16(code), e);
            assert_eq!(e.name(), name);
            assert_eq!(e.is_retriable(), retriable, "{name}");
        }
        assert!(E::None.is_ok());
        assert!(E::Unknown(999).is_err());
        assert!(!E::Unknown(999).is_retriable());
        assert_eq!(E::Unknown(999).name(), "UNKNOWN");
        assert_eq!(
            E::NotCoordinator.to_string(),
            "NOT_COORDINATOR (16): This is not the correct coordinator."
        );
        assert_eq!(ErrorCode::default(), E::None);
        assert_eq!(i16::from(E::from(51)), 51);
    }
}
