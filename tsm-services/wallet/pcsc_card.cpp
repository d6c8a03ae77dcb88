// PcscCard over libpcsclite (winscard API).
#include "pcsc_card.hpp"

#include <winscard.h>
#include <wintypes.h>

#include <stdexcept>

namespace kms::tsm::wallet {

namespace {

std::string why(LONG rc) {
    return pcsc_stringify_error(rc);
}

/// An established PC/SC context, released on destruction.
struct Context {
    SCARDCONTEXT handle = 0;
    Context() {
        const LONG rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &handle);
        if (rc != SCARD_S_SUCCESS)
            throw std::runtime_error("PC/SC: cannot reach pcscd: " + why(rc));
    }
    ~Context() { SCardReleaseContext(handle); }
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;
};

std::vector<std::string> list(SCARDCONTEXT ctx) {
    DWORD size = 0;
    LONG rc = SCardListReaders(ctx, nullptr, nullptr, &size);
    if (rc == SCARD_E_NO_READERS_AVAILABLE) return {};
    if (rc != SCARD_S_SUCCESS) throw std::runtime_error("PC/SC: listing readers: " + why(rc));
    std::string buffer(size, '\0');
    rc = SCardListReaders(ctx, nullptr, buffer.data(), &size);
    if (rc == SCARD_E_NO_READERS_AVAILABLE) return {};
    if (rc != SCARD_S_SUCCESS) throw std::runtime_error("PC/SC: listing readers: " + why(rc));
    // A multi-string: names separated by NUL, ended by an empty one.
    std::vector<std::string> names;
    for (std::size_t at = 0; at < buffer.size() && buffer[at] != '\0';) {
        const std::string name(buffer.c_str() + at);
        names.push_back(name);
        at += name.size() + 1;
    }
    return names;
}

}  // namespace

std::vector<std::string> pcsc_readers() {
    Context ctx;
    return list(ctx.handle);
}

struct PcscCard::Impl {
    Context ctx;
    SCARDHANDLE card = 0;
    DWORD protocol = 0;
    std::string reader;
    Bytes atr;
};

PcscCard::PcscCard(const std::string& reader) : m_impl(std::make_unique<Impl>()) {
    const auto names = list(m_impl->ctx.handle);
    std::string chosen;
    if (!reader.empty() && reader.find_first_not_of("0123456789") == std::string::npos &&
        reader.size() < 4) {
        const std::size_t index = std::stoul(reader);
        if (index >= names.size())
            throw std::runtime_error("PC/SC: no reader number " + reader + " (" +
                                     std::to_string(names.size()) + " readers)");
        chosen = names[index];
    } else {
        for (const auto& n : names)
            if (n == reader) chosen = n;
        if (chosen.empty()) {
            std::string known;
            for (const auto& n : names) known += (known.empty() ? "" : ", ") + ("'" + n + "'");
            throw std::runtime_error(
                "PC/SC: no reader '" + reader + "'" +
                (known.empty() ? " (pcscd knows none)" : " (known: " + known + ")"));
        }
    }
    m_impl->reader = chosen;
    const LONG rc =
        SCardConnect(m_impl->ctx.handle, chosen.c_str(), SCARD_SHARE_SHARED,
                     SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &m_impl->card, &m_impl->protocol);
    if (rc != SCARD_S_SUCCESS)
        throw std::runtime_error("PC/SC: reader '" + chosen + "': " + why(rc));
    BYTE atr[MAX_ATR_SIZE];
    DWORD atr_size = sizeof atr, state = 0, protocol = 0, name_size = 0;
    if (SCardStatus(m_impl->card, nullptr, &name_size, &state, &protocol, atr, &atr_size) ==
        SCARD_S_SUCCESS)
        m_impl->atr.assign(atr, atr + atr_size);
}

PcscCard::~PcscCard() {
    if (m_impl && m_impl->card) SCardDisconnect(m_impl->card, SCARD_LEAVE_CARD);
}

Bytes PcscCard::transmit(ByteView command) {
    const SCARD_IO_REQUEST* pci =
        m_impl->protocol == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    auto once = [&](const Bytes& apdu) {
        Bytes out(65538);
        DWORD size = static_cast<DWORD>(out.size());
        const LONG rc = SCardTransmit(m_impl->card, pci, apdu.data(),
                                      static_cast<DWORD>(apdu.size()), nullptr, out.data(), &size);
        if (rc != SCARD_S_SUCCESS)
            throw std::runtime_error("PC/SC: reader '" + m_impl->reader + "': " + why(rc));
        out.resize(size);
        if (out.size() < 2)
            throw std::runtime_error("PC/SC: reader '" + m_impl->reader +
                                     "': an answer without a status word");
        return out;
    };
    Bytes apdu(command.begin(), command.end());
    Bytes response = once(apdu);
    if (m_impl->protocol != SCARD_PROTOCOL_T0) return response;
    // T=0 (ISO/IEC 7816-4 §5.3 and ISO/IEC 7816-3 §12.2): 6Cxx asks for the command again with
    // Le = xx; 61xx says xx more bytes wait for GET RESPONSE.
    if (response.size() == 2 && response[0] == 0x6C && apdu.size() >= 4) {
        if (apdu.size() == 4)
            apdu.push_back(response[1]);
        else
            apdu.back() = response[1];
        response = once(apdu);
    }
    Bytes data;
    for (int guard = 0;
         guard < 256 && response.size() >= 2 && response[response.size() - 2] == 0x61; ++guard) {
        data.insert(data.end(), response.begin(), response.end() - 2);
        const Bytes get_response = {static_cast<std::uint8_t>(command[0] & 0x03), 0xC0, 0x00, 0x00,
                                    response.back()};
        response = once(get_response);
    }
    if (data.empty()) return response;
    data.insert(data.end(), response.begin(), response.end());
    return data;
}

Bytes PcscCard::atr() const {
    return m_impl->atr;
}

const std::string& PcscCard::reader() const {
    return m_impl->reader;
}

}  // namespace kms::tsm::wallet
