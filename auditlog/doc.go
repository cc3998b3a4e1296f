// Package auditlog is Tongxing's tamper-evident audit log: an append-only
// sequence of typed entries, committed to by an RFC 6962 Merkle tree over
// SM3, with signed checkpoints, inclusion and consistency proofs, indexed
// search, offline-verifiable evidence bundles and the security officers'
// HTTP API.
//
// Standards: MLPS 2.0 audit records (GB/T 22239-2019 8.1.4.3: date and time,
// actor, event type, outcome, source, object); RFC 6962 section 2.1 Merkle
// tree shape with SM3 (GB/T 32905) as hash; C2SP tlog-checkpoint and
// signed-note for checkpoints; SM2 signatures (GB/T 32918.2, GM/T 0009 signer
// ID); RFC 2104 HMAC-SM3 for citizen pseudonyms; RFC 9457 problem details.
//
// # Canonical entry encoding
//
// An [Entry] has exactly one encoding, produced by [Entry.MarshalCanonical]
// and accepted by [ParseEntry]; it is the leaf hashed into the tree. It is a
// JSON object (RFC 8259) with no insignificant whitespace and every member
// present, in this fixed order:
//
//	{"index":N,"time":"YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ",
//	 "actor":{"subject":S,"department":S,"client":S,"cert_serial":S,"source_addr":S},
//	 "action":S,"object":{"resource":S,"department":S},"decision":S,"reasons":[S,...],
//	 "request_digest":S,"timestamp_token":S,"outcome":S,"latency_ns":N,"citizen_hash":S}
//
// (shown wrapped; the encoding is one line), followed by up to three
// optional members, each present only when set and always in this order:
//
//	"purpose":S,"policy_revision":S,"decision_index":N
//
// Entries without them (every entry written before they existed) keep
// their bytes and leaf hashes. Integers are decimal without
// sign, exponent or leading zeros. time is UTC with exactly nine fractional
// digits. Strings are valid UTF-8, serialised as in RFC 8785 (JCS) section
// 3.2.2.2: only '"', '\' and the control characters below U+0020 are
// escaped, as \b \f \n \r \t or \u00xx with lower-case hex; everything else
// is literal. Empty values of the fixed members are "" and []; an empty
// optional member is omitted, never written as "". testdata/entry.golden.json
// holds an example of the fixed form, testdata/entry-extended.golden.json
// one with every optional member.
//
// # Merkle tree
//
// [Hasher] implements transparency-dev/merkle's LogHasher: leaf hash
// SM3(0x00 || leaf), interior hash SM3(0x01 || left || right), empty root
// SM3(""). The tree is extended with merkle/compact ranges and proofs are
// assembled with merkle/proof; no proof arithmetic is implemented here.
// Interior nodes of perfect subtrees are stored (table audit_nodes) keyed by
// post-order position, leaf hashes beside their entries.
//
// # Checkpoints
//
// A checkpoint is the C2SP tlog-checkpoint body
//
//	<origin>\n<decimal tree size>\n<base64 root hash>\n
//
// in a signed note carrying the SM2 signature of the audit key (signature
// type and verifier key format in package auditlog/sm2note) and optionally
// a standard Ed25519 co-signature, both under the origin as key name. The
// sequencer publishes one whenever the tree has grown, at most once per
// checkpoint interval (default 1s), plus one on Close; with WithTimestamper
// each carries a timestamp token. A log opened WithDeferredCheckpoints
// publishes none until [Log.StartCheckpoints] hands it its timestamper (a
// TSA that opens after the log).
//
// # Sequencing and durability
//
// [Log.Append] queues the entry for one sequencer goroutine, which commits
// everything queued as one transaction (group commit): entries with their
// indexes, new tree nodes and the new tree state (size, root, compact range).
// Append returns only after that commit. Because entries, nodes and state
// change in one transaction, a crash at any point leaves either all or none
// of a batch, and acknowledged entries are never lost (SQLite runs with WAL
// and synchronous=FULL).
//
// The search indexes are not on audit_entries, whose commit would then
// extend seven indexes per batch: the sequencer copies the search columns
// of the entries sequenced since its last copy into audit_search, which
// carries them, in the transaction of the first batch at least 100 ms
// after that copy (and on Close), so each index is extended for many
// entries at once. audit_search is always a prefix of the log; [Reader.Search]
// reads the entries beyond it, at most a few batches, from audit_entries,
// so a search sees every entry as soon as its Append has returned.
// Verification checks the search table against the entries.
//
// The tree state row is replaced with a compare-and-set on its size, so two
// sequencers can never give out one index twice: the loser's transaction
// rolls back and it retries on fresh state.
//
// On PostgreSQL several processes share the log. The one holding the
// session-level advisory lock [SequencerLockID] (pg_try_advisory_lock on a
// dedicated connection) sequences, integrates and publishes checkpoints.
// The others commit their batches to audit_pending (durable at once) and
// wait until the sequencer, which polls that table, has moved them into the
// log in a transaction that also deletes them from audit_pending and writes
// a receipt with their index; Append then returns that index. Every process
// retries the lock each leader-retry interval, so when the holder dies (its
// session ends and PostgreSQL frees the lock) another takes over, reloading
// the tree state from the database. A sequencer that loses its lock
// connection stops sequencing; the compare-and-set above keeps the log
// correct even if two briefly overlap. On SQLite every process sequences;
// SQLite's write lock and the same compare-and-set serialise them.
//
// The pending insert notifies the sequencer (PostgreSQL LISTEN/NOTIFY,
// delivered at commit) and the sequencing transaction that writes receipts
// notifies the waiting processes, so a process that does not hold the lock
// sees its Append return after two commits rather than after polls. Both
// sides still poll (WithPollInterval, default 20ms) in case a notification
// is lost or the listening connection fails; WithNotify(false) leaves only
// the polls, about two intervals per append.
//
// # Evidence bundles
//
// [Reader.Export] streams JSON lines: a header with the signed checkpoint
// (and its timestamp token, if any), one line per entry holding the
// canonical encoding verbatim and its RFC 6962 inclusion proof against that
// checkpoint, and an end line with the entry count. [VerifyBundle] and
// [VerifyBundleKey] check a bundle offline with
// transparency-dev/merkle's proof.VerifyInclusion; [NewBundleReader] parses
// one line at a time with size limits (MaxBundleLine, MaxProofLen,
// MaxCheckpointSize, MaxEntrySize).
//
// # Timestamp tokens
//
// An entry names the timestamp token over its request by reference
// (Entry.TimestampToken, such as "tsa:serial:<hex>"). [Log.AppendWithToken]
// keeps the token itself (DER, at most MaxTokenLen) under that reference in
// audit_tokens in the entry's own commit, insert-only, and [Reader.Token]
// reads it back, so that a
// reviewer can verify it against the entry's request digest. The tokens
// are not part of the Merkle tree: the reference is, and a changed token
// no longer verifies.
//
// # No deletion
//
// The package has no path that updates or deletes an entry, node or
// checkpoint. Retention archives by exporting (see [Reader.Export] with a
// To bound): entries are copied with their checkpoint and proofs, never
// dropped. [Reader.Verify] recomputes the whole tree and names the first
// index at which stored data fails; it parses and hashes entries on all
// CPUs while one goroutine extends the tree in index order.
//
// # Command-line operations
//
// The CLI verbs map to: audit tail -> [Reader.Tail] and [Reader.Follow];
// audit search -> [Reader.Search]; audit verify -> [Reader.Verify];
// audit verify-bundle -> [VerifyBundleKey] with [sm2note.ParsePublicKeyPEM] and the configured origin.
package auditlog
