import Foundation
import Shared
import Testing

/// The strict parser of SigV4 authorizations (`Authorization` header and presigned parameters):
/// what it accepts, and a typed refusal for each way an input can be wrong.
struct SigV4AuthorizationTests {
    static let signature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    static let credential = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
    static let valid = "AWS4-HMAC-SHA256 Credential=\(credential), SignedHeaders=host;x-amz-date, Signature=\(signature)"

    func refusal(_ header: String) -> SigV4Error? {
        do {
            _ = try SigV4Authorization(header: header)
            return nil
        } catch { return error }
    }

    func presignedRefusal(_ query: String) -> SigV4Error? {
        do {
            _ = try SigV4Authorization(presignedQuery: query)
            return nil
        } catch { return error }
    }

    @Test func aValidHeaderParses() throws {
        let auth = try SigV4Authorization(header: Self.valid)
        #expect(auth.accessKeyID == "AKIDEXAMPLE")
        #expect(auth.scope == SigV4Scope(date: "20150830", region: "us-east-1", service: "service"))
        #expect(auth.signedHeaders == ["host", "x-amz-date"])
        #expect(auth.signature == Self.signature)
        #expect(auth.signatureBytes.count == 32)
        #expect(auth.amzDate == nil && auth.expires == nil)
    }

    @Test func partsMayComeInAnyOrderWithOrWithoutSpaces() throws {
        let reordered = "AWS4-HMAC-SHA256 Signature=\(Self.signature),SignedHeaders=host;x-amz-date ,  Credential=\(Self.credential)"
        #expect(try SigV4Authorization(header: reordered) == SigV4Authorization(header: Self.valid))
    }

    @Test func missingPartsAreNamed() {
        #expect(refusal("AWS4-HMAC-SHA256") == .missingComponent("Credential"))
        #expect(refusal("AWS4-HMAC-SHA256   ") == .missingComponent("Credential"))
        #expect(refusal("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=\(Self.signature)") == .missingComponent("Credential"))
        #expect(
            refusal("AWS4-HMAC-SHA256 Credential=\(Self.credential), Signature=\(Self.signature)") == .missingComponent("SignedHeaders"))
        #expect(refusal("AWS4-HMAC-SHA256 Credential=\(Self.credential), SignedHeaders=host") == .missingComponent("Signature"))
        #expect(refusal("") == .unsupportedAlgorithm(""))
    }

    @Test func duplicateAndUnknownPartsAreRefused() {
        #expect(refusal(Self.valid + ", Credential=\(Self.credential)") == .duplicateComponent("Credential"))
        #expect(refusal(Self.valid + ", Signature=\(Self.signature)") == .duplicateComponent("Signature"))
        #expect(refusal(Self.valid + ", SignedHeaders=host") == .duplicateComponent("SignedHeaders"))
        #expect(refusal(Self.valid + ", Extra=1") == .unknownComponent)
        #expect(refusal(Self.valid + ",") == .unknownComponent)
        #expect(refusal(Self.valid + ", credential=\(Self.credential)") == .unknownComponent)  // names are case-sensitive
        #expect(refusal("AWS4-HMAC-SHA256 Credential") == .unknownComponent)
    }

    @Test func otherAlgorithmsAreRefused() {
        #expect(
            refusal(Self.valid.replacingOccurrences(of: "AWS4-HMAC-SHA256", with: "AWS4-ECDSA-P256-SHA256"))
                == .unsupportedAlgorithm("AWS4-ECDSA-P256-SHA256"))
        #expect(refusal("AWS AKIDEXAMPLE:c2lnbmF0dXJl") == .unsupportedAlgorithm("AWS"))
        #expect(refusal("aws4-hmac-sha256 Credential=x") == .unsupportedAlgorithm("aws4-hmac-sha256"))
        // A long algorithm is cut in the error, so a log line stays short.
        #expect(refusal(String(repeating: "A", count: 500)) == .unsupportedAlgorithm(String(repeating: "A", count: 32)))
    }

    @Test func badSignatureHexIsRefused() {
        for bad in [
            String(Self.signature.dropLast()), Self.signature + "0", Self.signature.uppercased(),
            String(Self.signature.dropLast()) + "g", "", String(repeating: " ", count: 64),
        ] {
            #expect(refusal(Self.valid.replacingOccurrences(of: Self.signature, with: bad)) == .malformedSignature, "\(bad)")
        }
    }

    @Test func badCredentialsAreRefusedWithTheField() {
        func credentialRefusal(_ credential: String) -> Bool {
            if case .malformedCredential = refusal(Self.valid.replacingOccurrences(of: Self.credential, with: credential)) { return true }
            return false
        }
        #expect(credentialRefusal("AKIDEXAMPLE/20150830/us-east-1/service"))
        #expect(credentialRefusal("AKIDEXAMPLE/20150830/us-east-1/service/aws4_request/x"))
        #expect(credentialRefusal("AKIDEXAMPLE/20150830/us-east-1/service/aws4_requesT"))
        #expect(credentialRefusal("/20150830/us-east-1/service/aws4_request"))
        #expect(credentialRefusal("AKID EXAMPLE/20150830/us-east-1/service/aws4_request"))
        #expect(credentialRefusal("AKIDEXAMPLE/2015083/us-east-1/service/aws4_request"))
        #expect(credentialRefusal("AKIDEXAMPLE/20150230/us-east-1/service/aws4_request"))  // no 30 February
        #expect(credentialRefusal("AKIDEXAMPLE/2015083x/us-east-1/service/aws4_request"))
        #expect(credentialRefusal("AKIDEXAMPLE/20150830//service/aws4_request"))
        #expect(credentialRefusal("AKIDEXAMPLE/20150830/us-east-1//aws4_request"))
        #expect(credentialRefusal("AKIDEXAMPLE/20150830/us east 1/service/aws4_request"))
        #expect(credentialRefusal(String(repeating: "A", count: 129) + "/20150830/us-east-1/service/aws4_request"))
        #expect(credentialRefusal("AKIDEXAMPLE/20150830/" + String(repeating: "r", count: 65) + "/service/aws4_request"))
        #expect(!credentialRefusal(String(repeating: "A", count: 128) + "/20160229/us-east-1/service/aws4_request"))
    }

    @Test func badSignedHeadersAreRefused() {
        func signedHeadersRefusal(_ list: String) -> Bool {
            if case .malformedSignedHeaders = refusal(Self.valid.replacingOccurrences(of: "host;x-amz-date", with: list)) { return true }
            return false
        }
        #expect(signedHeadersRefusal(""))
        #expect(signedHeadersRefusal("x-amz-date;host"))  // not sorted
        #expect(signedHeadersRefusal("host;host;x-amz-date"))  // duplicate
        #expect(signedHeadersRefusal("Host;x-amz-date"))  // upper case
        #expect(signedHeadersRefusal("host;;x-amz-date"))
        #expect(signedHeadersRefusal("host;x-amz-date;"))
        #expect(signedHeadersRefusal("host;x amz"))
        #expect(signedHeadersRefusal("host;x-amz-date;" + String(repeating: "z", count: 129)))
        #expect(signedHeadersRefusal((0..<129).map { String(format: "h%03d", $0) }.joined(separator: ";")))
        #expect(!signedHeadersRefusal((0..<128).map { String(format: "h%03d", $0) }.joined(separator: ";")))
    }

    @Test func tooLongAndNonASCIIHeadersAreRefusedBeforeParsing() {
        let long = Self.valid + ", " + String(repeating: "x", count: SigV4Authorization.maximumLength)
        #expect(refusal(long) == .authorizationTooLong(long.utf8.count))
        #expect(refusal(Self.valid.replacingOccurrences(of: "AKIDEXAMPLE", with: "AKIDEXAMPLÉ")) == .nonASCIIAuthorization)
        #expect(refusal(Self.valid + "\u{0}") == .nonASCIIAuthorization)
        #expect(refusal(Self.valid.replacingOccurrences(of: ", ", with: ",\t")) == .nonASCIIAuthorization)
        #expect(refusal(Self.valid + "\n") == .nonASCIIAuthorization)
    }

    // MARK: presigned parameters

    static let presigned =
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request"
        + "&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600"
        + "&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d"

    @Test func validPresignedParametersParse() throws {
        let auth = try SigV4Authorization(presignedQuery: "a=1&" + Self.presigned + "&b")
        #expect(auth.accessKeyID == "AKIDEXAMPLE")
        #expect(auth.scope.service == "service")
        #expect(auth.signedHeaders == ["host"])
        #expect(auth.amzDate == "20150830T123600Z")
        #expect(auth.expires == 3600)
        #expect(SigV4Authorization.hasPresignedParameters(Self.presigned))
        #expect(!SigV4Authorization.hasPresignedParameters("a=1&X-Amz-Date=1"))
    }

    @Test func presignedRefusals() {
        #expect(presignedRefusal("") == .missingAuthorization)
        #expect(presignedRefusal("a=b&c") == .missingAuthorization)
        for name in ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"] {
            let without = Self.presigned.split(separator: "&").filter { !$0.hasPrefix(name + "=") }.joined(separator: "&")
            #expect(presignedRefusal(without) == .missingComponent(name))
            let twice = Self.presigned + "&" + Self.presigned.split(separator: "&").first { $0.hasPrefix(name + "=") }!
            #expect(presignedRefusal(twice) == .duplicateComponent(name))
        }
        // An encoded parameter name is the same parameter.
        #expect(presignedRefusal(Self.presigned + "&X-Amz-%53ignature=00") == .duplicateComponent("X-Amz-Signature"))
        for expires in ["0", "604801", "-1", "1e3", "3600.0", " 3600", "", "99999999999999999999"] {
            #expect(
                presignedRefusal(Self.presigned.replacingOccurrences(of: "X-Amz-Expires=3600", with: "X-Amz-Expires=\(expires)"))
                    == .malformedExpires, "\(expires)")
        }
        #expect(presignedRefusal(Self.presigned.replacingOccurrences(of: "X-Amz-Expires=3600", with: "X-Amz-Expires=604800")) == nil)
        for date in ["20150830T123600", "20150830 123600Z", "20151330T123600Z", "20150830T243600Z", "2015-08-30T12:36:00Z"] {
            #expect(
                presignedRefusal(Self.presigned.replacingOccurrences(of: "20150830T123600Z", with: date)) == .malformedDate, "\(date)")
        }
        #expect(
            presignedRefusal(Self.presigned.replacingOccurrences(of: "AWS4-HMAC-SHA256", with: "AWS4-HMAC-SHA1"))
                == .unsupportedAlgorithm("AWS4-HMAC-SHA1"))
        #expect(presignedRefusal(Self.presigned.replacingOccurrences(of: "%2Faws4", with: "%G2aws4")) == .invalidPercentEncoding("query"))
        #expect(presignedRefusal(Self.presigned.replacingOccurrences(of: "AKIDEXAMPLE", with: "AKID%C3%89")) == .nonASCIIAuthorization)
        #expect(presignedRefusal(Self.presigned + String(repeating: "0", count: 9000)) == .authorizationTooLong(9064))
    }

    @Test func everyErrorHasANameAnS3CodeAndADescription() {
        let errors: [SigV4Error] = [
            .missingAuthorization, .conflictingAuthorization, .multipleAuthorizationHeaders, .authorizationTooLong(9000),
            .nonASCIIAuthorization, .unsupportedAlgorithm("X"), .missingComponent("Credential"), .duplicateComponent("Credential"),
            .unknownComponent, .malformedCredential("why"), .malformedSignedHeaders("why"), .malformedSignature, .missingDate,
            .malformedDate, .malformedExpires, .wrongService(expected: "s3", received: "kms"),
            .credentialDateMismatch(scope: "20150830", amzDate: "20150831T000000Z"), .requestTimeTooSkewed(seconds: 960, allowed: 900),
            .expired(secondsAgo: 5), .requiredHeaderNotSigned("host"), .signedHeaderMissing("x"), .unknownAccessKey("AKID"),
            .signatureMismatch, .malformedContentSHA256, .contentSHA256Mismatch, .invalidPercentEncoding("path"),
        ]
        #expect(Set(errors.map(\.name)).count == errors.count)
        for error in errors {
            #expect(!error.description.isEmpty && !error.s3ErrorCode.isEmpty)
        }
        #expect(SigV4Error.signatureMismatch.s3ErrorCode == "SignatureDoesNotMatch")
        #expect(SigV4Error.requestTimeTooSkewed(seconds: 1, allowed: 0).s3ErrorCode == "RequestTimeTooSkewed")
        #expect(SigV4Error.unknownAccessKey("A").s3ErrorCode == "InvalidAccessKeyId")
        #expect(SigV4Error.malformedCredential("x").s3ErrorCode == "AuthorizationHeaderMalformed")
        #expect(SigV4Error.expired(secondsAgo: 1).s3ErrorCode == "AccessDenied")
    }
}
