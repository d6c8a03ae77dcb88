// The built-in self-test vectors. Every entry names its document and section; entries marked
// DERIVED are computed from a published vector by a rule stated next to them (and cross-checked
// with an independent implementation, Python cryptography 48), because no published vector in
// that exact form exists. Test keys here are public: never a real key.
#include "self_test.hpp"

namespace kms::core::selftest {

namespace {

using A = Algorithm;

// ---- shared published inputs ----

// RFC 4493 §4 / SP 800-38A Appendix F / SP 800-38B Appendix D: the common example key and
// message blocks of the NIST modes documents.
constexpr std::string_view kAes128Key = "2b7e151628aed2a6abf7158809cf4f3c";
constexpr std::string_view kAes192Key = "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b";
constexpr std::string_view kAes256Key =
    "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
constexpr std::string_view kNistMessage16 = "6bc1bee22e409f96e93d7e117393172a";
constexpr std::string_view kNistMessage40 =
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411";
constexpr std::string_view kNistMessage64 =
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
constexpr std::string_view kSp80038aIv = "000102030405060708090a0b0c0d0e0f";

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", revised 2005, Appendix B,
// Test Cases 4 and 16 (96-bit IV, 20-byte AAD, 60-byte plaintext).
constexpr std::string_view kGcmPlaintext =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
constexpr std::string_view kGcmAad = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
constexpr std::string_view kGcmIv = "cafebabefacedbaddecaf888";

// NIST CAVP tdesmmt.zip, TCBCMMT2.rsp [ENCRYPT] COUNT = 1 (two-key TDEA, CBC).
constexpr std::string_view kTcbcmmt2Key = "70a88fa1dfb9942fa77f40157ffef2ad";
constexpr std::string_view kTcbcmmt2Iv = "ece08ce2fdc6ce80";
constexpr std::string_view kTcbcmmt2Plaintext = "bc225304d5a3a5c9918fc5006cbc40cc";

// knovichikhin/pyemv tests/test_mac.py, test_mac_iso9797_3: key1 AAAA.., key2 BBBB.., data
// "hello world", padding method 2.
constexpr std::string_view kRetailKey = "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB";
constexpr std::string_view kHelloWorld = "68656c6c6f20776f726c64";
constexpr std::string_view kRetailMac = "2BC2D9EDE0CF31F6";

// GlobalPlatform default test key (GlobalPlatformPro TestPlaintextKeys KEY_16).
constexpr std::string_view kGpKey = "404142434445464748494A4B4C4D4E4F";
// ANSI X9.143 / TR-31:2018 Annex A.7.2.2 and A.7.4 clear key, as listed by openemv/tr31
// test/tr31_decrypt_test.c (test3 and test6).
constexpr std::string_view kTr31Key = "3F419E1CB7079442AA37474C2EFBF8B8";
// openemv/tr31 test/tr31_decrypt_test.c test8 (Thales payShield 10k example), AES-256 key.
constexpr std::string_view kPayShieldAes256Key =
    "BE19E6A07A760F10EF8E83A226B63AAD141F463FDDD4F47DB244B4023EC3CACC";

// RFC 6979 Appendix A.2.5 (P-256) and A.2.6 (P-384): public keys and the deterministic
// signatures of the message "sample".
constexpr std::string_view kSample = "73616d706c65";
constexpr std::string_view kRfc6979P256 =
    "04"
    "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
    "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299";
constexpr std::string_view kRfc6979P384 =
    "04"
    "EC3A4E415B4E19A4568618029F427FA5DA9A8BC4AE92E02E06AAE5286B300C64"
    "DEF8F0EA9055866064A254515480BC13"
    "8015D9B72D7D57244EA8EF9AC0C621896708A59367F9DFB9F54CA84B3F1C9DB1"
    "288B231C3AE0D4FE7344FD2533264720";

// NIST CAVP SigGen15_186-3.rsp (CAVS 10.1) [mod = 2048], first SHAAlg = SHA256 case.
constexpr std::string_view kCavpRsaN =
    "a564d3d06be468a46958d56bb4884e2c4c28f538b7e15df35330505177789d3e1d792ad7aec7fc80a8cccf7ed40304"
    "71"
    "100401724bd4636a8a8244180cc655e256c00e778efe8bea55ab52d3a557075e35039d687cc0755b939a44a73033a0"
    "a6"
    "f09d2d6ae7e6593380718be00814d20567b1d7d48b633735e423017ff0a7b406d822f45fbb4d234028ca78abb702b1"
    "8f"
    "cce13d2f69148ef584e9aaf283caab38f6946d342d600c6e77b7370a05ff302e5483b0faad3103d0b3e8c9c8e9eca1"
    "d4"
    "a871bdbd09585eb00dc3a488271cf6a3b767e68ea9bd2c83e8c89fd047f17915cf6a4c05bb9222b7e4470df5f3f1a2"
    "83"
    "24c1aafcbb2236d2293041d128b0e15f";
constexpr std::string_view kCavpRsaMessage =
    "8f51ec6359d7efe1898274fa89ea4a91b8bbf95e05fef84bbc9a201e9f1a615939b0b45e6f7a50d7580521554f1076"
    "37"
    "4692face5dfee5bfb3c573a87b1c96065301e756d278e37a601b545f4bd10ddd17dedade151cb7c33787400322ff69"
    "15"
    "854a6f91a9590f924accf55ea6b87749d3a783d655e0d620f0e96f78bb4b4450";
constexpr std::string_view kCavpRsaSignature =
    "795B0D51721469DCDF14DF08EACAA83AF79C2734226B3C8E048CBC4BD44ED7DC6C1EFAEFE1C71F017A87641827A0D3"
    "AF"
    "287E8C27EFA7CEBFC9435EFC7F6EAB1E373551887217D08313E8AE5EF0B0EFCB87C49C1F2898FCC117AC7DB229D34B"
    "D4"
    "AC39A4F91377F4B5A038338E7D4CF530E4E00FF67BF257E27E55FA6D2C0EB21AD0BCFD65F9EA760A440CAB4F904D4B"
    "81"
    "7604289BC8FF96FB07C0A23B5D31ABFFA706241D47FB42EF09B7BEC820E6076EBE7E1E0F4EEFE755BAB2CBCAE557AA"
    "B8"
    "208BB681D5381C1D09B4CCF1100F33CAD1990EFB507062EA51DE3DFAE0821F106B4B052244C379D0D32DE7A56EE17A"
    "7D"
    "9A5DCA2B472F0D3EEFA05F4E02FC0295";

constexpr HostKnownAnswer kHost[] = {
    {"SHA-256 \"abc\"", "FIPS 180-2 Appendix B.1", HostFunction::Sha256, "", "616263",
     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"SHA-384 \"abc\"", "FIPS 180-2 Appendix D.1", HostFunction::Sha384, "", "616263",
     "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
     "8086072ba1e7cc2358baeca134c825a7"},
    {"HMAC-SHA256", "RFC 4231 §4.3 Test Case 2", HostFunction::HmacSha256, "4a656665",
     "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {"AES-CMAC AES-128", "RFC 4493 §4 Example 2", HostFunction::AesCmac, kAes128Key, kNistMessage16,
     "070a16b46b4d4144f79bdd9dd04a287c"},
    {"AES-CMAC AES-256", "SP 800-38B Appendix D.3 Example 12", HostFunction::AesCmac, kAes256Key,
     kNistMessage64, "e1992190549f6ed5696a2c056c315410"},
    {"ISO 9797-1 MAC alg. 3, padding 2", "pyemv tests/test_mac.py test_mac_iso9797_3",
     HostFunction::RetailMac, kRetailKey, kHelloWorld, kRetailMac},
    {"TDEA-ECB 3-key", "SP 800-67 Rev. 2 Appendix B", HostFunction::Des3Ecb,
     "0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123",
     "54686520717566636b2062726f776e20666f78206a756d70",  // "The qufck brown fox jump"
     "A826FD8CE53B855FCCE21C8112256FE668D5C05DD9B6B900"},
    {"KCV DES3", "GlobalPlatformPro TestPlaintextKeys testSessionKeys_SCP01", HostFunction::KcvDes3,
     kGpKey, "", "8BAF47"},
    {"KCV AES CMAC form", "TR-31:2018 A.7.4 via openemv/tr31 tr31_decrypt_test.c",
     HostFunction::KcvAesCmac, kTr31Key, "", "08793E"},
    {"KCV AES GlobalPlatform form", "GlobalPlatformPro TestPlaintextKeys testSessionKeys_SCP03",
     HostFunction::KcvAesGp, kGpKey, "", "504A77"},
};

constexpr MacKnownAnswer kMac[] = {
    {"AES-CMAC AES-128", "RFC 4493 §4 Example 3", A::Aes128, MacAlgorithm::AesCmac, kAes128Key,
     kNistMessage40, "dfa66747de9ae63030ca32611497c827"},
    {"AES-CMAC AES-192", "SP 800-38B Appendix D.2 Example 6", A::Aes192, MacAlgorithm::AesCmac,
     kAes192Key, kNistMessage16, "9e99a7bf31e710900662f65e617c5184"},
    {"AES-CMAC AES-256", "SP 800-38B Appendix D.3 Example 12", A::Aes256, MacAlgorithm::AesCmac,
     kAes256Key, kNistMessage64, "e1992190549f6ed5696a2c056c315410"},
    // Hsm::import_secret takes 32-byte HMAC keys. RFC 2104 §2 step (1) pads a key shorter than
    // the 64-byte block with zeros, so the 25-byte RFC 4231 key followed by 7 zero bytes gives
    // exactly the published MAC.
    {"HMAC-SHA256 (25-byte key zero-padded to 32, RFC 2104 §2)", "RFC 4231 §4.5 Test Case 4",
     A::HmacSha256, MacAlgorithm::HmacSha256,
     "0102030405060708090a0b0c0d0e0f10111213141516171819"
     "00000000000000",
     "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdc"
     "dcdcdcd",
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
    {"DES3-RETAIL DES3-2K", "pyemv tests/test_mac.py test_mac_iso9797_3", A::Des3_2k,
     MacAlgorithm::Des3Retail, kRetailKey, kHelloWorld, kRetailMac},
};

constexpr CipherKnownAnswer kCipher[] = {
    {"AES-GCM AES-128", "McGrew-Viega GCM spec Appendix B Test Case 4", A::Aes128,
     CipherMode::AesGcm, "feffe9928665731c6d6a8f9467308308", kGcmIv, kGcmAad, kGcmPlaintext,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
     "5bc94fbc3221a5db94fae95ae7121a47"},
    {"AES-GCM AES-256", "McGrew-Viega GCM spec Appendix B Test Case 16", A::Aes256,
     CipherMode::AesGcm, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", kGcmIv,
     kGcmAad, kGcmPlaintext,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
     "76fc6ece0f4e1768cddf8853bb2d551b"},
    {"AES-CBC AES-128", "SP 800-38A Appendix F.2.1 CBC-AES128.Encrypt", A::Aes128,
     CipherMode::AesCbc, kAes128Key, kSp80038aIv, "", kNistMessage64,
     "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
     "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"},
    {"AES-CBC AES-256", "SP 800-38A Appendix F.2.5 CBC-AES256.Encrypt", A::Aes256,
     CipherMode::AesCbc, kAes256Key, kSp80038aIv, "", kNistMessage64,
     "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
     "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"},
    // DERIVED: PKCS#7 padding of a 64-byte message appends one block of 0x10 bytes (RFC 5652
    // §6.3), so the ciphertext is the F.2.1 ciphertext followed by E(K, C4 XOR 10^16).
    {"AES-CBC-PAD AES-128", "SP 800-38A Appendix F.2.1 + PKCS#7 block (derived)", A::Aes128,
     CipherMode::AesCbcPad, kAes128Key, kSp80038aIv, "", kNistMessage64,
     "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
     "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"
     "8cb82807230e1321d3fae00d18cc2012"},
    {"DES3-CBC DES3-2K", "NIST CAVP TCBCMMT2.rsp [ENCRYPT] COUNT = 1", A::Des3_2k,
     CipherMode::Des3Cbc, kTcbcmmt2Key, kTcbcmmt2Iv, "", kTcbcmmt2Plaintext,
     "27f67dc87af7ddb4b68f63fa7c2d454a"},
    {"DES3-CBC DES3-3K", "NIST CAVP TCBCMMT3.rsp [ENCRYPT] COUNT = 2", A::Des3_3k,
     CipherMode::Des3Cbc, "1a5d4c0825072a15a8ad9dfdaeda8c048adffb85bc4fced0", "7fcfa736f7548b6f",
     "", "983c3edacd939406010e1bc6ff9e12320ac5008117fa8f84",
     "d84fa24f38cf451ca2c9adc960120bd8ff9871584fe31cee"},
    // DERIVED: as above, one padding block of 0x08 bytes: TCBCMMT2 COUNT = 1 ciphertext
    // followed by E(K, C2 XOR 08^8).
    {"DES3-CBC-PAD DES3-2K", "NIST CAVP TCBCMMT2.rsp COUNT = 1 + PKCS#7 block (derived)",
     A::Des3_2k, CipherMode::Des3CbcPad, kTcbcmmt2Key, kTcbcmmt2Iv, "", kTcbcmmt2Plaintext,
     "27f67dc87af7ddb4b68f63fa7c2d454a0e477041e4a506ff"},
};

constexpr KcvKnownAnswer kKcv[] = {
    {"KCV AES-128 (CMAC form)", "TR-31:2018 A.7.4 via openemv/tr31 tr31_decrypt_test.c", A::Aes128,
     kTr31Key, "08793E"},
    {"KCV AES-256 (CMAC form)", "openemv/tr31 tr31_decrypt_test.c test8 (payShield 10k)", A::Aes256,
     kPayShieldAes256Key, "0A00E3"},
    {"KCV DES3-2K", "GlobalPlatformPro TestPlaintextKeys testSessionKeys_SCP01", A::Des3_2k, kGpKey,
     "8BAF47"},
    {"KCV DES3-2K", "TR-31:2018 A.7.2.2 via openemv/tr31 tr31_decrypt_test.c", A::Des3_2k, kTr31Key,
     "57C409"},
};

constexpr VerifyKnownAnswer kVerify[] = {
    {"ECDSA-SHA256 P-256", "RFC 6979 Appendix A.2.5, SHA-256, \"sample\"", A::EcP256,
     SignAlgorithm::EcdsaSha256, kRfc6979P256, "", kSample,
     "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
     "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"},
    {"ECDSA-SHA384 P-384", "RFC 6979 Appendix A.2.6, SHA-384, \"sample\"", A::EcP384,
     SignAlgorithm::EcdsaSha384, kRfc6979P384, "", kSample,
     "94EDBB92A5ECB8AAD4736E56C691916B3F88140666CE9FA73D64C4EA95AD133C"
     "81A648152E44ACF96E36DD1E80FABE46"
     "99EF4AEB15F178CEA1FE40DB2603138F130E740A19624526203B6351D0A3A94F"
     "A329C145786E679E7B82C71A38628AC8"},
    {"RSA-PKCS1-SHA256 RSA-2048", "NIST CAVP SigGen15_186-3.rsp [mod = 2048] SHA256 #1", A::Rsa2048,
     SignAlgorithm::RsaPkcs1Sha256, kCavpRsaN, "1001", kCavpRsaMessage, kCavpRsaSignature},
};

constexpr SignAlgorithm kEcdsaSha256[] = {SignAlgorithm::EcdsaSha256};
constexpr SignAlgorithm kEcdsaSha384[] = {SignAlgorithm::EcdsaSha384};
constexpr SignAlgorithm kRsaSchemes[] = {SignAlgorithm::RsaPkcs1Sha256,
                                         SignAlgorithm::RsaPssSha256};

// One key pair per algorithm. RSA-3072 is left out: its key generation on SoftHSM2 2.6 took
// 0.5-4 s (against 0.2-1.2 s for RSA-2048, same adapter and machine), and it shares every code
// path with RSA-2048 but the modulus size.
constexpr PairwiseTest kPairwise[] = {
    {"EC-P256", A::EcP256, kEcdsaSha256},
    {"EC-P384", A::EcP384, kEcdsaSha384},
    {"RSA-2048", A::Rsa2048, kRsaSchemes},
};

}  // namespace

std::span<const HostKnownAnswer> host_known_answers() {
    return kHost;
}
std::span<const MacKnownAnswer> mac_known_answers() {
    return kMac;
}
std::span<const CipherKnownAnswer> cipher_known_answers() {
    return kCipher;
}
std::span<const KcvKnownAnswer> kcv_known_answers() {
    return kKcv;
}
std::span<const VerifyKnownAnswer> verify_known_answers() {
    return kVerify;
}
std::span<const PairwiseTest> pairwise_tests() {
    return kPairwise;
}

}  // namespace kms::core::selftest
