// The SP TSM's operation driver: engine actions to KMS calls and wallet actions.
#include "operation_driver.hpp"

#include "domain/apdu.hpp"
#include "load_file.hpp"

namespace kms::tsm::sp {
namespace {

using script::ScriptRun;

std::uint16_t sw_of(const Bytes& r) {
    if (r.size() < 2) return 0;
    return static_cast<std::uint16_t>(r[r.size() - 2] << 8 | r[r.size() - 1]);
}

}  // namespace

void OperationDriver::close_session(OperationRecord& r) {
    if (r.session.empty()) return;
    try {
        m_kms.gp_close(r.session);
    } catch (const KmsError& e) {
        warn("closing GP session failed: " + std::string(e.what()));
    }
    r.session.clear();
}

void OperationDriver::drive(OperationRecord& r, ScriptRun& run) {
    for (;;) {
        const script::Action& a = run.next();
        if (const auto* d = std::get_if<script::Done>(&a.what)) {
            close_session(r);
            r.waiting = Waiting::Nothing;
            r.engine_seq = 0;
            r.secure = false;
            r.outcome = d->outcome;
            r.action = wallet_done_json(*d);
            return;
        }
        if (const auto* k = std::get_if<script::KmsRequest>(&a.what)) {
            if (k->operation != script::KmsOperation::Mac) {
                run.abandon("kms-operation-unsupported");
                continue;
            }
            try {
                const auto m = m_kms.mac(m_keys.at(k->key), k->algorithm, k->input);
                run.feed_kms_result(a.seq, m);
            } catch (const KmsError& e) {
                warn("KMS refused step '" + a.step_id + "': " + e.what());
                run.abandon("kms-refused");
            }
            continue;
        }
        if (const auto* c = std::get_if<script::OpenSecureChannel>(&a.what)) {
            const KeySet& ks = m_keysets.at(c->keyset);
            GpOpenRequest g;
            g.protocol = ks.protocol.value_or(c->protocol);
            g.i = ks.i;
            if (ks.kmc.empty()) {
                g.enc = ks.enc;
                g.mac = ks.mac;
                g.dek = ks.dek;
            } else {
                g.kmc = ks.kmc;
                g.diversification = ks.diversification;
            }
            g.key_version = ks.key_version;
            g.aid = ks.aid;
            try {
                const GpOpened o = m_kms.gp_open(g);
                r.session = o.session;
                r.level = c->level;
                r.waiting = Waiting::InitializeUpdate;
                r.engine_seq = a.seq;
                r.secure = false;
                r.action = wallet_apdu_json(o.initialize_update);
                return;
            } catch (const KmsError& e) {
                warn("KMS refused the secure channel: " + std::string(e.what()));
                run.feed_channel_result(a.seq, false);
                continue;
            }
        }
        if (const auto* p = std::get_if<script::PutKey>(&a.what)) {
            // GPCS 2.2.1 §11.8: kmsd encrypts the keys under the card's DEK and wraps the
            // command in the session; the wallet relays it as it is.
            try {
                std::vector<std::string> ids;
                if (m_put_key_resolver) ids = m_put_key_resolver(*p, run);
                for (const auto& k : m_put_key_resolver ? decltype(p->keys){} : p->keys) {
                    const auto it = m_keys.find(k);  // checked at create(); a KMS refusal if not
                    if (it == m_keys.end())
                        throw KmsError(0, "not_mapped", "key '" + k + "' is not in kmsKeys");
                    ids.push_back(it->second);
                }
                const GpPutKey built =
                    m_kms.gp_put_key(r.session, ids, p->key_version, p->replace_version, p->key_id);
                r.waiting = Waiting::PutKeyResponse;
                r.engine_seq = a.seq;
                r.secure = false;
                r.action = wallet_apdu_json(built.apdu);
                return;
            } catch (const KmsError& e) {
                warn("KMS refused PUT KEY of step '" + a.step_id + "': " + e.what());
                run.feed_put_key_result(a.seq, false);
                continue;
            }
        }
        Bytes apdu;
        bool secure = false;
        if (const auto* l = std::get_if<script::SendLoadBlock>(&a.what)) {
            // GPCS 2.2.1 §11.6: block l->block of 'C4' || length || the catalogue's file.
            const CatalogueEntry* e =
                m_catalogue != nullptr ? m_catalogue->find(l->load_file) : nullptr;
            if (e == nullptr ||
                script::load_block_count(e->content.size(), l->block_size) != l->blocks) {
                warn("load file '" + l->load_file + "' is not the one the script knows");
                run.abandon("load-file-unavailable");
                continue;
            }
            apdu = core::encode_command_apdu(
                script::load_command(e->content, l->block_size, l->block));
            secure = l->secure;
        } else {
            const auto& s = std::get<script::SendApdu>(a.what);
            apdu = s.apdu;
            secure = s.secure;
        }
        if (secure) {
            try {
                apdu = m_kms.gp_wrap(r.session, apdu);
            } catch (const KmsError& e) {
                warn("KMS wrap failed: " + std::string(e.what()));
                run.abandon("secure-channel-failed");
                continue;
            }
        }
        r.waiting = Waiting::CardResponse;
        r.engine_seq = a.seq;
        r.secure = secure;
        r.action = wallet_apdu_json(apdu);
        return;
    }
}

void OperationDriver::advance(OperationRecord& r, ScriptRun& run, const ResponseRequest& req) {
    bool engine_moved = true;  // false while the channel is still being opened
    switch (r.waiting) {
        case Waiting::CardResponse: {
            Bytes plain = req.response;
            // Without R-MAC (level bit 10) or R-ENCRYPTION (bit 20) the card's answer carries
            // nothing to check or decrypt (GPCS 2.2.1 §E.4.2, Amd D §6.2.5): kmsd's unwrap would
            // return it as it is, so it is not asked (three kmsd calls fewer per top-up).
            if (r.secure && (r.level & 0x30) != 0) {
                try {
                    plain = m_kms.gp_unwrap(r.session, req.response);
                } catch (const KmsError& e) {
                    warn("unwrap failed: " + std::string(e.what()));
                    run.abandon("secure-channel-failed");
                    break;
                }
            }
            run.feed_response(r.engine_seq, plain);
            break;
        }
        case Waiting::InitializeUpdate: {
            bool ok = sw_of(req.response) == 0x9000;
            if (ok) {
                try {
                    const Bytes ea = m_kms.gp_authenticate(r.session, req.response, r.level);
                    r.waiting = Waiting::ExternalAuthenticate;
                    r.action = wallet_apdu_json(ea);
                    engine_moved = false;
                } catch (const KmsError& e) {
                    warn("card not authenticated: " + std::string(e.what()));
                    ok = false;
                }
            }
            if (!ok) {
                close_session(r);
                run.feed_channel_result(r.engine_seq, false);
            }
            break;
        }
        case Waiting::ExternalAuthenticate: {
            const bool ok = sw_of(req.response) == 0x9000;
            if (!ok) close_session(r);
            run.feed_channel_result(r.engine_seq, ok);
            break;
        }
        case Waiting::PutKeyResponse: {
            // The card's answer: unwrapped in the session, then checked by kmsd (key version
            // and KCVs, GPCS 2.2.1 §11.8.3). Any failure is the step's onFail.
            bool verified = false;
            try {
                const Bytes plain = m_kms.gp_unwrap(r.session, req.response);
                if (sw_of(plain) == 0x9000) {
                    m_kms.gp_put_key_verify(r.session, plain);
                    verified = true;
                } else {
                    warn("the card refused PUT KEY: SW " +
                         to_hex(ByteView(plain).last(std::min<std::size_t>(2, plain.size()))));
                }
            } catch (const KmsError& e) {
                warn("PUT KEY not verified: " + std::string(e.what()));
            }
            run.feed_put_key_result(r.engine_seq, verified);
            break;
        }
        case Waiting::Nothing:
            break;
    }
    if (engine_moved) drive(r, run);
    r.state = run.serialize();
    r.answered_seq = req.seq;
    r.answered_response = req.response;
    r.seq = req.seq + 1;
}

void OperationDriver::abandon(OperationRecord& r, ScriptRun& run, std::string_view outcome) {
    if (r.waiting == Waiting::Nothing) return;
    run.abandon(outcome);
    drive(r, run);
    r.state = run.serialize();
}

}  // namespace kms::tsm::sp
