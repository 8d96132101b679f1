package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Failure is an error from S3 or STS, classified once: whether a later attempt can succeed, what AWS
// said, and a hint that names the setting to fix.
type Failure struct {
	// Retryable is true for failures a later attempt can get past without anyone changing a setting:
	// 5xx, throttling, timeouts, network errors. Permanent failures need the user.
	Retryable bool
	// HTTPStatus is the response status, 0 when no response arrived.
	HTTPStatus int
	// Code is the AWS error code (AccessDenied, NoSuchBucket, ...), or one of s3relay's for failures
	// without a response: ConnectionRefused, HostNotFound, ConnectionReset, Timeout, Canceled, TLSError,
	// NetworkError, NoCredentials, InvalidConfig, EndpointNotAllowed.
	Code string
	// Message is AWS's message, or the network error.
	Message string
	// RequestID is AWS's request id, for support cases.
	RequestID string
	// Hint tells the user what to change, in the dashboard's words.
	Hint string
}

// Codes s3relay gives failures that have no AWS error code.
const (
	CodeConnectionRefused = "ConnectionRefused"
	CodeHostNotFound      = "HostNotFound"
	CodeConnectionReset   = "ConnectionReset"
	CodeTimeout           = "Timeout"
	CodeCanceled          = "Canceled"
	CodeTLS               = "TLSError"
	CodeNetwork           = "NetworkError"
	CodeNoCredentials     = "NoCredentials"
	CodeAlreadyExists     = "PreconditionFailed"
	// CodeInvalidConfig is a destination no client can be built for (see also CodeEndpointNotAllowed).
	CodeInvalidConfig = "InvalidConfig"
)

// Classify turns an error from this package (Put, Delete, Credentials, TestConnection) or from the AWS
// SDK into a Failure; nil for nil. Errors from this package carry their destination, so hints name its
// bucket, prefix, role and region. Anything unrecognised is retryable: the engine's retry limit still
// ends it, and nothing is failed for good on a guess.
func Classify(err error) *Failure {
	if err == nil {
		return nil
	}
	f := &Failure{Retryable: true, Message: err.Error()}
	f.HTTPStatus, f.RequestID = responseInfo(err)
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		f.Code = apiErr.ErrorCode()
		if msg := apiErr.ErrorMessage(); msg != "" {
			f.Message = msg
		}
	}
	var op *opError
	var cfg Config
	if errors.As(err, &op) {
		cfg = op.cfg
	}
	var credErr *credentialsError
	inCredentials := errors.As(err, &credErr)
	var endpointErr *EndpointError
	var cfgErr *configError
	switch {
	case errors.As(err, &endpointErr):
		// Refused before connecting to the address (or following the
		// redirect): the answer is the same whatever listens there.
		f.Retryable, f.Code, f.HTTPStatus, f.RequestID = false, CodeEndpointNotAllowed, 0, ""
		f.Message, f.Hint = endpointErr.Error(), endpointHint(endpointErr)
	case errors.As(err, &cfgErr):
		f.Retryable, f.Code, f.Message = false, CodeInvalidConfig, cfgErr.Error()
		f.Hint = "Fix the destination's settings and test again."
		if errors.Is(err, ErrDefaultAuthEndpoint) {
			f.Hint = "Fix the destination's settings: under Access choose an IAM role or access keys, or clear Endpoint to write to AWS S3."
		}
	case errors.Is(err, ErrAlreadyExists):
		f.Retryable, f.Code = false, CodeAlreadyExists
		f.Hint = "The object already exists: an earlier attempt wrote it, so it counts as delivered."
	case inCredentials && cfg.Auth != AuthKeys && noServerCredentials(err):
		// The default chain ended at the instance metadata service, which
		// answered (403 on a machine that is not EC2) or was off: the server
		// has no credentials, whatever status the last link returned.
		f.Retryable, f.Code, f.HTTPStatus, f.RequestID = false, CodeNoCredentials, 0, ""
		f.Hint = noCredentialsHint(cfg)
	case f.Code != "" && inCredentials:
		classifyCredentials(f, cfg)
	case f.Code != "":
		classifyS3(f, cfg, op, err)
	case f.HTTPStatus != 0:
		classifyStatus(f)
	default:
		// With neither a response nor a known network error, a failed credential lookup means there
		// were no credentials to find.
		if !classifyTransport(f, err, cfg, inCredentials) && inCredentials {
			f.Retryable, f.Code = false, CodeNoCredentials
			f.Hint = noCredentialsHint(cfg)
		}
	}
	return f
}

// classifyCredentials handles errors STS (or another credential source) answered while s3relay was
// getting credentials, before any S3 request was made.
func classifyCredentials(f *Failure, cfg Config) {
	if classifyCommon(f) {
		return
	}
	f.Retryable = false
	switch f.Code {
	case "AccessDenied":
		f.Hint = fmt.Sprintf("AWS refused to let this server assume %s. Open the role in IAM → Roles → Trust relationships "+
			"and use the trust policy shown here: its Principal must be this server's identity and its condition "+
			"sts:ExternalId must equal the IAM External ID (%s) exactly. Also check that IAM Role ARN names the right role.",
			orUnset(cfg.RoleARN), orUnset(cfg.ExternalID))
	case "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException":
		f.Hint = "The server's own AWS credentials (used to assume the role) are not valid: check the credentials " +
			"in the server's environment, shared config or instance role."
	case "ExpiredToken", "ExpiredTokenException", "InvalidToken", "TokenRefreshRequired":
		f.Retryable = true
		f.Hint = "The server's own AWS session has expired: renew the credentials in the server's environment " +
			"or use an instance or task role, which renews itself."
	case "RegionDisabledException":
		f.Hint = fmt.Sprintf("STS is not activated in %s: activate it in IAM → Account settings, or set AWS Region to an active region.", cfg.Region)
	case "ValidationError", "MalformedPolicyDocument":
		f.Hint = "AWS rejected the AssumeRole request: check that IAM Role ARN is a role ARN (arn:aws:iam::123456789012:role/name) " +
			"and that the role's maximum session duration is at least one hour."
	default:
		f.Hint = "Getting credentials failed: " + f.Message
	}
}

var kmsMessage = regexp.MustCompile(`(?i)\bkms\b|kms:|KMS\.`)

// classifyS3 handles errors S3 answered with an error code.
func classifyS3(f *Failure, cfg Config, op *opError, err error) {
	if classifyCommon(f) {
		return
	}
	f.Retryable = false
	bucket := orUnset(cfg.Bucket)
	switch f.Code {
	case "AccessDenied", "Forbidden":
		switch {
		case kmsMessage.MatchString(f.Message):
			f.Hint = kmsHint(cfg)
		case op != nil && op.op == "delete":
			f.Hint = deleteDeniedHint(cfg)
		default:
			f.Hint = fmt.Sprintf("These credentials may not write to the bucket: allow s3:PutObject on %s "+
				"in the permission policy (see the generated policy), and check that no bucket policy or service "+
				"control policy denies it.", objectARN(partition(cfg.Region), cfg.Bucket, cfg.PathPrefix+"*"))
			if cfg.SSE == SSEKMS {
				f.Hint += " With SSE-KMS, kms:GenerateDataKey on the key is needed too."
			}
		}
	case "AllAccessDisabled", "AccountProblem":
		f.Hint = "AWS has disabled access for this account or bucket: check the account's status in the AWS console."
	case "InvalidAccessKeyId":
		if cfg.Auth == AuthKeys {
			f.Hint = fmt.Sprintf("AWS does not know the access key %s: check Access Key ID (it may be deleted, inactive, "+
				"or from another partition or endpoint).", orUnset(cfg.AccessKey))
		} else {
			f.Hint = "The endpoint does not know the access key of the credentials in use: check the server's own credentials, " +
				"and that Endpoint and AWS Region belong to the same AWS partition as the role."
		}
	case "SignatureDoesNotMatch":
		if cfg.Auth == AuthKeys {
			f.Hint = fmt.Sprintf("The Secret Access Key does not belong to access key %s: paste the secret again "+
				"(without spaces), or create a new access key.", orUnset(cfg.AccessKey))
		} else {
			f.Hint = "The request signature was refused: check the server's credentials and that the server's clock is right."
		}
	case "ExpiredToken", "InvalidToken", "TokenRefreshRequired":
		if cfg.Auth == AuthKeys {
			f.Hint = "The Session Token has expired or does not match the keys: paste fresh temporary credentials, " +
				"leave Session Token empty for long-term keys, or use role access so s3relay renews credentials itself."
		} else {
			f.Retryable = true
			f.Hint = "The temporary credentials expired; s3relay gets new ones and retries."
		}
	case "NoSuchBucket":
		f.Hint = fmt.Sprintf("The bucket %s does not exist%s: check AWS Bucket Name, or create the bucket.", bucket, where(cfg))
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "IncorrectEndpoint", "MovedPermanently":
		f.Hint = regionHint(cfg, bucketRegion(err, f.Message))
	case "InvalidStorageClass":
		f.Hint = fmt.Sprintf("The bucket refused storage class %s: choose another Storage Class; STANDARD always works. "+
			"MinIO and many S3-compatible services accept only STANDARD and REDUCED_REDUNDANCY.", orUnset(cfg.StorageClass))
	case "InvalidEncryptionAlgorithmError", "KMSNotConfigured", "NotImplementedKMS":
		f.Hint = fmt.Sprintf("The endpoint cannot apply server-side encryption %s: choose another Server Side Encryption "+
			"or leave it empty to use the bucket's default.", orUnset(cfg.SSE))
	case "InvalidBucketName":
		f.Hint = fmt.Sprintf("%s is not a valid bucket name: check AWS Bucket Name.", bucket)
	case "NotImplemented":
		f.Hint = "The endpoint does not support something s3relay needs (conditional writes with If-None-Match, " +
			"checksums, or the chosen encryption or storage class): " + f.Message
	case "RequestTimeTooSkewed":
		f.Retryable = true
		f.Hint = "This server's clock is more than 15 minutes off: synchronise it (NTP)."
	default:
		switch {
		case strings.HasPrefix(strings.ToUpper(f.Code), "KMS") || kmsMessage.MatchString(f.Message):
			f.Hint = kmsHint(cfg)
		case f.Code == "InvalidArgument" || f.Code == "InvalidRequest":
			f.Hint = "S3 rejected a setting: " + f.Message + " Check Storage Class, Server Side Encryption and the KMS key."
		default:
			classifyStatus(f)
		}
	}
}

// classifyCommon handles the retryable codes S3 and STS share. It reports whether it knew the code.
func classifyCommon(f *Failure) bool {
	switch f.Code {
	case "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
		"RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded", "TooManyRequests":
		f.Hint = "AWS asked s3relay to slow down; it retries with backoff. If this persists, raise the mappings' batch sizes so fewer, larger files are written."
	case "InternalError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException", "ServiceFailure", "OperationAborted":
		f.Hint = "AWS had a temporary problem; s3relay retries."
	case "RequestTimeout", "RequestTimeoutException", "IncompleteBody":
		f.Hint = "The upload was too slow and AWS closed the connection; s3relay retries. Check the server's network."
	case "BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch":
		f.Hint = "The upload arrived corrupted (checksum mismatch); s3relay retries."
	case "ConditionalRequestConflict":
		f.Hint = "Another upload of the same key was in progress; s3relay retries."
	case "IDPCommunicationError":
		f.Hint = "AWS could not reach the identity provider; s3relay retries."
	default:
		return false
	}
	f.Retryable = true
	return true
}

// classifyStatus handles a response by its status alone.
func classifyStatus(f *Failure) {
	switch {
	case f.HTTPStatus >= 500 || f.HTTPStatus == http.StatusTooManyRequests || f.HTTPStatus == http.StatusRequestTimeout:
		f.Retryable = true
		f.Hint = "The endpoint had a temporary problem; s3relay retries."
	case f.HTTPStatus == http.StatusMovedPermanently:
		f.Retryable = false
		f.Hint = "The bucket is in another region: set AWS Region to the bucket's region."
	default:
		f.Retryable = false
		f.Hint = "The endpoint refused the request: " + f.Message
	}
	if f.Code == "" && f.HTTPStatus != 0 {
		f.Code = strings.ReplaceAll(http.StatusText(f.HTTPStatus), " ", "")
	}
}

// classifyTransport handles failures without a response. It reports whether err was one.
func classifyTransport(f *Failure, err error, cfg Config, inCredentials bool) bool {
	target := endpointName(cfg)
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		if u, perr := url.Parse(urlErr.URL); perr == nil && u.Host != "" {
			target = u.Scheme + "://" + u.Host
		}
		f.Message = urlErr.Error()
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		f.Code = CodeCanceled
		f.Hint = "The attempt was canceled (s3relay is shutting down or the request was abandoned); it is retried."
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		f.Code = CodeTimeout
		f.Hint = fmt.Sprintf("No answer from %s in time: check that this server can reach it (firewall, proxy, "+
			"VPC endpoint) and, for a custom Endpoint, that the URL is right.", target)
	case errors.As(err, &dnsErr):
		f.Code = CodeHostNotFound
		f.Hint = fmt.Sprintf("The host name of %s does not resolve: check Endpoint (or AWS Region) and the server's DNS.", target)
	case errors.Is(err, syscall.ECONNREFUSED):
		f.Code = CodeConnectionRefused
		f.Hint = fmt.Sprintf("Nothing accepts connections at %s: check Endpoint (scheme, host and port) and that the service is running.", target)
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr):
		f.Retryable, f.Code = false, CodeTLS
		f.Hint = fmt.Sprintf("The TLS certificate of %s is not trusted: check Endpoint, or give the server the CA (AWS_CA_BUNDLE).", target)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		f.Code = CodeConnectionReset
		f.Hint = fmt.Sprintf("The connection to %s closed before an answer (network trouble or a proxy in the way); s3relay retries.", target)
	case errors.As(err, new(*smithyhttp.RequestSendError)), errors.As(err, &urlErr):
		f.Code = CodeNetwork
		f.Hint = fmt.Sprintf("Could not talk to %s: check the network between this server and it.", target)
	default:
		return false
	}
	if inCredentials && f.Code != CodeCanceled {
		f.Hint = "While getting credentials: " + f.Hint
	}
	return true
}

// noServerCredentials tells whether a credential lookup failed because the
// default chain found nothing: its last link, the EC2 instance metadata
// service, had no role (or was turned off).
func noServerCredentials(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "no EC2 IMDS role found") || strings.Contains(msg, "access disabled to EC2 IMDS")
}

func noCredentialsHint(cfg Config) string {
	switch cfg.Auth {
	case AuthKeys:
		return "Access Key ID and Secret Access Key are required."
	case AuthRole:
		return fmt.Sprintf("This server has no AWS credentials, so it cannot assume %s. Give it credentials "+
			"(AWS_PROFILE, an instance/task/pod role) or choose Access keys.", orUnset(cfg.RoleARN))
	}
	return "This server has no AWS credentials of its own. Give it credentials (AWS_PROFILE, " +
		"an instance/task/pod role, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in its environment) or choose Access keys."
}

func kmsHint(cfg Config) string {
	key := cfg.KMSKeyID
	if key == "" {
		key = "aws/s3 (the default key)"
	}
	return fmt.Sprintf("The KMS key %s cannot be used: check that it exists in %s and is enabled, and that the permission "+
		"policy and the key policy allow kms:GenerateDataKey for this identity.", key, orUnset(cfg.Region))
}

func deleteDeniedHint(cfg Config) string {
	return fmt.Sprintf("s3relay never deletes delivered files, so this is only a warning. To let the connection test "+
		"clean up after itself, allow s3:DeleteObject on %s.", objectARN(partition(cfg.Region), cfg.Bucket, cfg.PathPrefix+probeFolder+"*"))
}

func regionHint(cfg Config, real string) string {
	if real == "" || real == cfg.Region {
		return fmt.Sprintf("The bucket %s is not in %s: set AWS Region to the bucket's region (S3 console → bucket → Properties).",
			orUnset(cfg.Bucket), orUnset(cfg.Region))
	}
	return fmt.Sprintf("The bucket %s is in %s, not %s: set AWS Region to %s.", orUnset(cfg.Bucket), real, orUnset(cfg.Region), real)
}

var expectingRegion = regexp.MustCompile(`expecting '([a-z0-9-]+)'`)

// bucketRegion finds the bucket's real region: the x-amz-bucket-region response header, else the region
// the error message says it expected.
func bucketRegion(err error, message string) string {
	var resp interface{ HTTPResponse() *smithyhttp.Response }
	if errors.As(err, &resp) && resp.HTTPResponse() != nil {
		if region := resp.HTTPResponse().Header.Get("X-Amz-Bucket-Region"); region != "" {
			return region
		}
	}
	if m := expectingRegion.FindStringSubmatch(message); m != nil {
		return m[1]
	}
	return ""
}

// responseInfo returns the HTTP status and AWS request id of an SDK error, zero when there was no response.
func responseInfo(err error) (status int, requestID string) {
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	var rid interface{ ServiceRequestID() string }
	if errors.As(err, &rid) {
		requestID = rid.ServiceRequestID()
	}
	return status, requestID
}

// endpointName names the S3 endpoint cfg talks to, for hints about errors that carry no URL.
func endpointName(cfg Config) string {
	switch {
	case cfg.Endpoint != "":
		return cfg.Endpoint
	case cfg.Region != "":
		return "the S3 endpoint of " + cfg.Region
	default:
		return "the endpoint"
	}
}

func where(cfg Config) string {
	if cfg.Endpoint != "" {
		return " at " + cfg.Endpoint
	}
	return ""
}

func orUnset(s string) string {
	if s == "" {
		return "(not set)"
	}
	return s
}
