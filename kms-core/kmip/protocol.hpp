// KMIP tag and enumeration values the server reads or writes (KMIP 1.4 §9.1.3, KMIP 2.0
// §11). Only what kmsd implements is listed; values are the specification's. Pure constants.
#pragma once

#include <cstdint>

namespace kms::kmip {

/// Tags (KMIP 1.4 §9.1.3.1; 2.0-only tags marked).
namespace tag {
inline constexpr std::uint32_t ActivationDate = 0x420001;
inline constexpr std::uint32_t Attribute = 0x420008;
inline constexpr std::uint32_t AttributeIndex = 0x420009;
inline constexpr std::uint32_t AttributeName = 0x42000A;
inline constexpr std::uint32_t AttributeValue = 0x42000B;
inline constexpr std::uint32_t Authentication = 0x42000C;
inline constexpr std::uint32_t BatchCount = 0x42000D;
inline constexpr std::uint32_t BatchErrorContinuationOption = 0x42000E;
inline constexpr std::uint32_t BatchItem = 0x42000F;
inline constexpr std::uint32_t BatchOrderOption = 0x420010;
inline constexpr std::uint32_t BlockCipherMode = 0x420011;
inline constexpr std::uint32_t CommonTemplateAttribute = 0x42001F;
inline constexpr std::uint32_t CompromiseDate = 0x420020;
inline constexpr std::uint32_t ContactInformation = 0x420022;
inline constexpr std::uint32_t CompromiseOccurrenceDate = 0x420021;
inline constexpr std::uint32_t CryptographicAlgorithm = 0x420028;
inline constexpr std::uint32_t CryptographicDomainParameters = 0x420029;
inline constexpr std::uint32_t CryptographicLength = 0x42002A;
inline constexpr std::uint32_t CryptographicParameters = 0x42002B;
inline constexpr std::uint32_t CryptographicUsageMask = 0x42002C;
inline constexpr std::uint32_t DeactivationDate = 0x42002F;
inline constexpr std::uint32_t Digest = 0x420034;
inline constexpr std::uint32_t DigestValue = 0x420035;
inline constexpr std::uint32_t HashingAlgorithm = 0x420038;
inline constexpr std::uint32_t InitialDate = 0x420039;
inline constexpr std::uint32_t IvCounterNonce = 0x42003D;
inline constexpr std::uint32_t KeyBlock = 0x420040;
inline constexpr std::uint32_t KeyFormatType = 0x420042;
inline constexpr std::uint32_t KeyMaterial = 0x420043;
inline constexpr std::uint32_t KeyValue = 0x420045;
inline constexpr std::uint32_t Link = 0x42004A;
inline constexpr std::uint32_t LinkType = 0x42004B;
inline constexpr std::uint32_t LinkedObjectIdentifier = 0x42004C;
inline constexpr std::uint32_t MaximumItems = 0x42004F;
inline constexpr std::uint32_t MaximumResponseSize = 0x420050;
inline constexpr std::uint32_t Name = 0x420053;
inline constexpr std::uint32_t NameType = 0x420054;
inline constexpr std::uint32_t NameValue = 0x420055;
inline constexpr std::uint32_t ObjectGroup = 0x420056;
inline constexpr std::uint32_t ObjectType = 0x420057;
inline constexpr std::uint32_t Offset = 0x420058;
inline constexpr std::uint32_t Operation = 0x42005C;
inline constexpr std::uint32_t PaddingMethod = 0x42005F;
inline constexpr std::uint32_t PrivateKeyTemplateAttribute = 0x420065;
inline constexpr std::uint32_t PrivateKeyUniqueIdentifier = 0x420066;
inline constexpr std::uint32_t ProtocolVersion = 0x420069;
inline constexpr std::uint32_t ProtocolVersionMajor = 0x42006A;
inline constexpr std::uint32_t ProtocolVersionMinor = 0x42006B;
inline constexpr std::uint32_t PublicKey = 0x42006D;
inline constexpr std::uint32_t PublicKeyTemplateAttribute = 0x42006E;
inline constexpr std::uint32_t PublicKeyUniqueIdentifier = 0x42006F;
inline constexpr std::uint32_t QueryFunction = 0x420074;
inline constexpr std::uint32_t RequestHeader = 0x420077;
inline constexpr std::uint32_t RequestMessage = 0x420078;
inline constexpr std::uint32_t RequestPayload = 0x420079;
inline constexpr std::uint32_t ResponseHeader = 0x42007A;
inline constexpr std::uint32_t ResponseMessage = 0x42007B;
inline constexpr std::uint32_t ResponsePayload = 0x42007C;
inline constexpr std::uint32_t ResultMessage = 0x42007D;
inline constexpr std::uint32_t ResultReason = 0x42007E;
inline constexpr std::uint32_t ResultStatus = 0x42007F;
inline constexpr std::uint32_t RevocationMessage = 0x420080;
inline constexpr std::uint32_t RevocationReason = 0x420081;
inline constexpr std::uint32_t RevocationReasonCode = 0x420082;
inline constexpr std::uint32_t ServerInformation = 0x420088;
inline constexpr std::uint32_t State = 0x42008D;
inline constexpr std::uint32_t TemplateAttribute = 0x420091;
inline constexpr std::uint32_t TimeStamp = 0x420092;
inline constexpr std::uint32_t UniqueBatchItemId = 0x420093;
inline constexpr std::uint32_t UniqueIdentifier = 0x420094;
inline constexpr std::uint32_t ValidityIndicator = 0x42009B;
inline constexpr std::uint32_t VendorIdentification = 0x42009D;
inline constexpr std::uint32_t DigitalSignatureAlgorithm = 0x4200AE;
inline constexpr std::uint32_t Data = 0x4200C2;
inline constexpr std::uint32_t SignatureData = 0x4200C3;
inline constexpr std::uint32_t DataLength = 0x4200C4;
inline constexpr std::uint32_t MacData = 0x4200C6;
inline constexpr std::uint32_t TagLength = 0x4200CE;                              ///< KMIP 1.4
inline constexpr std::uint32_t AuthenticatedEncryptionAdditionalData = 0x4200FE;  ///< KMIP 1.4
inline constexpr std::uint32_t AuthenticatedEncryptionTag = 0x4200FF;             ///< KMIP 1.4
inline constexpr std::uint32_t OffsetItems = 0x4200D4;                            ///< KMIP 1.3
inline constexpr std::uint32_t LocatedItems = 0x4200D5;                           ///< KMIP 1.3
inline constexpr std::uint32_t Attributes = 0x420125;                             ///< KMIP 2.0
inline constexpr std::uint32_t CommonAttributes = 0x420126;                       ///< KMIP 2.0
inline constexpr std::uint32_t PrivateKeyAttributes = 0x420127;                   ///< KMIP 2.0
inline constexpr std::uint32_t PublicKeyAttributes = 0x420128;                    ///< KMIP 2.0
inline constexpr std::uint32_t AttributeReference = 0x42013B;                     ///< KMIP 2.0
inline constexpr std::uint32_t CurrentAttribute = 0x42013C;                       ///< KMIP 2.0
inline constexpr std::uint32_t NewAttribute = 0x42013D;                           ///< KMIP 2.0
inline constexpr std::uint32_t AdjustmentType = 0x420158;                         ///< KMIP 2.0
inline constexpr std::uint32_t AdjustmentValue = 0x420162;                        ///< KMIP 2.0
// Register (kmip/operations_register.cpp): managed objects and key material.
inline constexpr std::uint32_t Key = 0x42003F;  ///< Transparent Symmetric Key
inline constexpr std::uint32_t KeyCompressionType = 0x420041;
inline constexpr std::uint32_t KeyWrappingData = 0x420046;
inline constexpr std::uint32_t Modulus = 0x420052;
inline constexpr std::uint32_t PublicExponent = 0x42006C;
inline constexpr std::uint32_t QString = 0x420072;
inline constexpr std::uint32_t RecommendedCurve = 0x420075;
inline constexpr std::uint32_t SymmetricKey = 0x42008F;
inline constexpr std::uint32_t Certificate = 0x420013;
inline constexpr std::uint32_t CertificateType = 0x42001D;
inline constexpr std::uint32_t CertificateValue = 0x42001E;
inline constexpr std::uint32_t SecretData = 0x420085;
inline constexpr std::uint32_t SecretDataType = 0x420086;
}  // namespace tag

/// Operation (KMIP 1.4 §9.1.3.2.27).
enum class Op : std::uint32_t {
    Create = 0x01,
    CreateKeyPair = 0x02,
    Register = 0x03,
    ReKey = 0x04,
    Locate = 0x08,
    Get = 0x0A,
    GetAttributes = 0x0B,
    GetAttributeList = 0x0C,
    AddAttribute = 0x0D,
    ModifyAttribute = 0x0E,
    DeleteAttribute = 0x0F,
    Activate = 0x12,
    Revoke = 0x13,
    Destroy = 0x14,
    Query = 0x18,
    DiscoverVersions = 0x1E,
    Encrypt = 0x1F,
    Decrypt = 0x20,
    Sign = 0x21,
    SignatureVerify = 0x22,
    Mac = 0x23,
    MacVerify = 0x24,
    RngRetrieve = 0x25,
    AdjustAttribute = 0x30,  ///< KMIP 2.0
    SetAttribute = 0x31,     ///< KMIP 2.0
};

/// Result Status (§9.1.3.2.28).
enum class ResultStatus : std::uint32_t { Success = 0, OperationFailed = 1 };

/// Result Reason (KMIP 1.4 §9.1.3.2.29; 0x19 and up are KMIP 2.0 §11.39 only).
enum class Reason : std::uint32_t {
    ItemNotFound = 0x01,
    ResponseTooLarge = 0x02,
    AuthenticationNotSuccessful = 0x03,
    InvalidMessage = 0x04,
    OperationNotSupported = 0x05,
    MissingData = 0x06,
    InvalidField = 0x07,
    FeatureNotSupported = 0x08,
    CryptographicFailure = 0x0A,
    IllegalOperation = 0x0B,
    PermissionDenied = 0x0C,
    IndexOutOfBounds = 0x0E,
    KeyFormatTypeNotSupported = 0x10,
    KeyCompressionTypeNotSupported = 0x11,
    NotExtractable = 0x17,             ///< KMIP 1.4
    ObjectAlreadyExists = 0x18,        ///< KMIP 1.4
    MultiValuedAttribute = 0x1E,       ///< KMIP 2.0
    UnsupportedAttribute = 0x1F,       ///< KMIP 2.0
    AttributeInstanceNotFound = 0x20,  ///< KMIP 2.0
    AttributeNotFound = 0x21,          ///< KMIP 2.0
    AttributeReadOnly = 0x22,          ///< KMIP 2.0
    AttributeSingleValued = 0x23,      ///< KMIP 2.0
    NonUniqueNameAttribute = 0x35,     ///< KMIP 2.0
    WrongKeyLifecycleState = 0x43,     ///< KMIP 2.0
    GeneralFailure = 0x100,
};

/// Object Type (§9.1.3.2.12).
enum class ObjectType : std::uint32_t {
    Certificate = 1,
    SymmetricKey = 2,
    PublicKey = 3,
    PrivateKey = 4,
    SecretData = 7,
};

/// Cryptographic Algorithm (§9.1.3.2.13).
enum class CryptoAlg : std::uint32_t {
    TripleDes = 0x02,
    Aes = 0x03,
    Rsa = 0x04,
    HmacSha256 = 0x09,
    Ec = 0x1A,  ///< KMIP 1.4 only (not in 1.0 to 1.3)
    Ecdsa = 0x06,
};

/// Cryptographic Usage Mask bits (§9.1.3.3.1).
namespace usage {
inline constexpr std::uint32_t Sign = 0x1;
inline constexpr std::uint32_t Verify = 0x2;
inline constexpr std::uint32_t Encrypt = 0x4;
inline constexpr std::uint32_t Decrypt = 0x8;
inline constexpr std::uint32_t WrapKey = 0x10;
inline constexpr std::uint32_t UnwrapKey = 0x20;
inline constexpr std::uint32_t MacGenerate = 0x80;
inline constexpr std::uint32_t MacVerify = 0x100;
inline constexpr std::uint32_t DeriveKey = 0x200;
}  // namespace usage

/// State (§9.1.3.2.17).
enum class State : std::uint32_t {
    PreActive = 1,
    Active = 2,
    Deactivated = 3,
    Compromised = 4,
    Destroyed = 5,
    DestroyedCompromised = 6,
};

/// Block Cipher Mode (§9.1.3.2.14) and Padding Method (§9.1.3.2.15), the values kmsd maps.
inline constexpr std::uint32_t kModeCbc = 0x01;
inline constexpr std::uint32_t kModeGcm = 0x09;
inline constexpr std::uint32_t kPaddingNone = 0x01;
inline constexpr std::uint32_t kPaddingPkcs5 = 0x03;

/// Key Format Type (§9.1.3.2.3): X.509 is a DER SubjectPublicKeyInfo.
inline constexpr std::uint32_t kFormatX509 = 0x05;
/// More Key Format Types (§9.1.3.2.3) Register reads; Transparent EC Public Key is KMIP 1.3,
/// Transparent ECDSA Public Key is reserved from KMIP 2.0 on (2.0 §11.26).
inline constexpr std::uint32_t kFormatRaw = 0x01;
inline constexpr std::uint32_t kFormatOpaque = 0x02;
/// Secret Data Type (§9.1.3.2.9) and Certificate Type (§9.1.3.2.6).
inline constexpr std::uint32_t kSecretPassword = 0x01;
inline constexpr std::uint32_t kSecretSeed = 0x02;
inline constexpr std::uint32_t kCertificateX509 = 0x01;
inline constexpr std::uint32_t kFormatPkcs1 = 0x03;
inline constexpr std::uint32_t kFormatTransparentSymmetric = 0x07;
inline constexpr std::uint32_t kFormatTransparentRsaPublic = 0x0B;
inline constexpr std::uint32_t kFormatTransparentEcdsaPublic = 0x0F;
inline constexpr std::uint32_t kFormatTransparentEcPublic = 0x15;
/// Recommended Curve (§9.1.3.2.5): the two kmsd keeps.
inline constexpr std::uint32_t kCurveP256 = 0x07;
inline constexpr std::uint32_t kCurveP384 = 0x0A;
/// Link Type (§9.1.3.2.20).
inline constexpr std::uint32_t kLinkPublicKey = 0x102;
inline constexpr std::uint32_t kLinkPrivateKey = 0x103;
inline constexpr std::uint32_t kLinkReplacementObject = 0x106;
inline constexpr std::uint32_t kLinkReplacedObject = 0x107;
/// Validity Indicator (§9.1.3.2.22).
inline constexpr std::uint32_t kValid = 1;
inline constexpr std::uint32_t kInvalid = 2;
/// Digital Signature Algorithm (§9.1.3.2.7), Hashing Algorithm (§9.1.3.2.16), Padding Method.
inline constexpr std::uint32_t kSha256WithRsa = 0x05;
inline constexpr std::uint32_t kRsassaPss = 0x08;
inline constexpr std::uint32_t kEcdsaWithSha256 = 0x0E;
inline constexpr std::uint32_t kEcdsaWithSha384 = 0x0F;
inline constexpr std::uint32_t kHashSha256 = 0x06;
inline constexpr std::uint32_t kHashSha384 = 0x07;
inline constexpr std::uint32_t kPaddingPss = 0x0A;
inline constexpr std::uint32_t kPaddingPkcs1v15 = 0x08;
inline constexpr std::uint32_t kModeCmac = 0x07;

/// Query Function (§9.1.3.2.24).
inline constexpr std::uint32_t kQueryOperations = 1;
inline constexpr std::uint32_t kQueryObjects = 2;
inline constexpr std::uint32_t kQueryServerInformation = 3;

/// Adjustment Type (KMIP 2.0 §11.1).
inline constexpr std::uint32_t kAdjustIncrement = 1;
inline constexpr std::uint32_t kAdjustDecrement = 2;
inline constexpr std::uint32_t kAdjustNegate = 3;

/// Name Type (§9.1.3.2.10).
inline constexpr std::uint32_t kNameUninterpretedText = 1;

}  // namespace kms::kmip
