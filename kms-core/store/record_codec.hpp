// The binary encodings of what the LMDB store keeps: key records, principals, audit records
// and the audit head. Each encoding starts with a format byte so a later kmsd can read
// records written by an earlier one (and refuse ones it does not understand). Pure C++.
//
// Layout (format 1; integers big-endian, "lv" = u32 length + bytes, "opt" = u8 0|1 + u64):
//   KeyRecord: 01 | lv id | lv name | u8 algorithm | u32 usage | u8 state | u8 exportable |
//              u8 storage | lv created_by | u64 created_ms | opt activation | opt deactivation |
//              opt compromise | opt destroy | u32 n, n x (u32 number | lv block | lv kcv |
//              lv public_key | u64 created_ms) | u32 n, n x (u8 from | u8 to | u64 at_ms |
//              lv by | lv reason) | u64 encrypt, decrypt, mac, mac_verify, sign, verify
//              | u8 trusted (format 2) | u32 n, n x lv kmip_extra_names | u32 n, n x (lv name |
//              lv value) kmip_client_attributes | lv kmip_replaced_id | lv kmip_replacement_id
//              (format 3)
//   Principal: 01 | lv name | u32 roles | lv token_hash | u64 created_ms | lv created_by |
//              u8 disabled
//   AuditRecord: 01 | u64 seq | u64 time_ms | lv actor | lv action | lv target | u8 outcome |
//              lv detail | lv prev_hash | lv hash | lv seal
//   AuditHead: 01 | u64 seq | lv hash
// Signed times are stored as their two's-complement u64.
#pragma once

#include <cstdint>
#include <string>

#include "domain/audit.hpp"
#include "domain/bytes.hpp"
#include "domain/key.hpp"
#include "domain/principal.hpp"

namespace kms::store {

/// The format byte every encoding below writes today.
inline constexpr std::uint8_t kRecordFormat = 1;
/// Key records are format 2 since `trusted` was added (a trailing flag byte), format 3 since
/// the KMIP attributes were (trailing fields); format-1 and -2 key records still decode, with
/// trusted = false and no KMIP attributes.
inline constexpr std::uint8_t kKeyRecordFormat = 3;

/// Encoders. They never fail for any value of their input.
Bytes encode_key(const core::KeyRecord& key);
Bytes encode_principal(const core::Principal& principal);
Bytes encode_audit(const core::AuditRecord& record);
Bytes encode_audit_head(const core::AuditHead& head);

/// Decoders. Every read is bounds-checked. Each throws kms::Error(Integrity) when the input
/// is truncated, has bytes left over, carries an unknown format byte, or holds an enum or
/// flag value that this build does not know: a stored record that fails to decode is treated
/// as corruption, never guessed at.
core::KeyRecord decode_key(ByteView data);
core::Principal decode_principal(ByteView data);
core::AuditRecord decode_audit(ByteView data);
core::AuditHead decode_audit_head(ByteView data);

/// The 8-byte big-endian key of audit record @p seq (so LMDB's byte order is seq order).
Bytes audit_key(std::uint64_t seq);

/// The detail of a "key.use" audit record, the same on every backend: the non-zero counters
/// of @p delta as "name=n" separated by spaces, in the order encrypt decrypt mac mac_verify
/// sign verify (e.g. "encrypt=3 mac=12").
std::string use_counter_detail(const core::UseCounters& delta);

}  // namespace kms::store
