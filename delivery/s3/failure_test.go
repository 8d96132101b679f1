package s3_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3relay/s3relay/delivery/s3"
)

// apiError builds the error the SDK returns for an S3 error response.
func apiError(status int, code, message string, header http.Header) error {
	if header == nil {
		header = http.Header{}
	}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		RequestID: "req-1",
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: header}},
			Err:      &smithy.GenericAPIError{Code: code, Message: message},
		},
	}}
}

// sendError builds the error the SDK returns when no response arrived.
func sendError(err error) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &smithyhttp.RequestSendError{
		Err: &url.Error{Op: "Put", URL: "https://s3.eu-west-1.amazonaws.com/events/k", Err: err},
	}}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		retryable bool
		code      string
		status    int
		hintHas   string
	}{
		{"slow down", apiError(503, "SlowDown", "Please reduce your request rate.", nil), true, "SlowDown", 503, "slow down"},
		{"sts throttling", apiError(400, "Throttling", "Rate exceeded", nil), true, "Throttling", 400, "slow down"},
		{"internal error", apiError(500, "InternalError", "We encountered an internal error.", nil), true, "InternalError", 500, "temporary"},
		{"service unavailable", apiError(503, "ServiceUnavailable", "", nil), true, "ServiceUnavailable", 503, "temporary"},
		{"bad gateway without a code", apiError(502, "", "", nil), true, "BadGateway", 502, "temporary"},
		{"request timeout", apiError(400, "RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.", nil), true, "RequestTimeout", 400, "network"},
		{"bad digest", apiError(400, "BadDigest", "The Content-MD5 you specified did not match what we received.", nil), true, "BadDigest", 400, "checksum"},
		{"conditional write conflict", apiError(409, "ConditionalRequestConflict", "", nil), true, "ConditionalRequestConflict", 409, "retries"},
		{"clock skew", apiError(403, "RequestTimeTooSkewed", "", nil), true, "RequestTimeTooSkewed", 403, "clock"},
		{"unknown 5xx", apiError(500, "SomethingNew", "", nil), true, "SomethingNew", 500, "temporary"},

		{"access denied", apiError(403, "AccessDenied", "Access Denied", nil), false, "AccessDenied", 403, "s3:PutObject"},
		{"kms access denied", apiError(403, "AccessDenied", "User: arn:aws:iam::1:user/x is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-west-1:1:key/k", nil), false, "AccessDenied", 403, "kms:GenerateDataKey"},
		{"kms key disabled", apiError(400, "KMS.DisabledException", "arn:aws:kms:eu-west-1:1:key/k is disabled.", nil), false, "KMS.DisabledException", 400, "enabled"},
		{"kms key not found", apiError(400, "KMS.NotFoundException", "Invalid keyId", nil), false, "KMS.NotFoundException", 400, "kms:GenerateDataKey"},
		{"missing bucket", apiError(404, "NoSuchBucket", "The specified bucket does not exist", nil), false, "NoSuchBucket", 404, "AWS Bucket Name"},
		{"storage class", apiError(400, "InvalidStorageClass", "The storage class you specified is not valid", nil), false, "InvalidStorageClass", 400, "Storage Class"},
		{"unknown key", apiError(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", nil), false, "InvalidAccessKeyId", 403, "access key"},
		{"wrong secret", apiError(403, "SignatureDoesNotMatch", "", nil), false, "SignatureDoesNotMatch", 403, "signature"},
		{"account problem", apiError(403, "AllAccessDisabled", "All access to this object has been disabled", nil), false, "AllAccessDisabled", 403, "account"},
		{"wrong region from the header", apiError(301, "PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint.",
			http.Header{"X-Amz-Bucket-Region": {"eu-central-1"}}), false, "PermanentRedirect", 301, "set AWS Region to eu-central-1"},
		{"wrong region from the message", apiError(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ap-south-1'", nil),
			false, "AuthorizationHeaderMalformed", 400, "set AWS Region to ap-south-1"},
		{"wrong region unknown", apiError(301, "", "", nil), false, "MovedPermanently", 301, "AWS Region"},
		{"no conditional writes", apiError(501, "NotImplemented", "A header you provided implies functionality that is not implemented", nil), false, "NotImplemented", 501, "If-None-Match"},
		{"invalid argument", apiError(400, "InvalidArgument", "Server Side Encryption with KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms", nil), false, "InvalidArgument", 400, "KMS"},
		{"unknown 4xx", apiError(400, "SomethingNew", "Something new went wrong", nil), false, "SomethingNew", 400, "Something new went wrong"},
		{"already exists", fmt.Errorf("%w: %w", s3.ErrAlreadyExists, apiError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", nil)), false, s3.CodeAlreadyExists, 412, "delivered"},

		{"connection refused", sendError(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true, s3.CodeConnectionRefused, 0, "https://s3.eu-west-1.amazonaws.com"},
		{"host not found", sendError(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "s3.eu-west-1.amazonaws.com", IsNotFound: true}}), true, s3.CodeHostNotFound, 0, "does not resolve"},
		{"read timeout", sendError(&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}), true, s3.CodeTimeout, 0, "No answer from https://s3.eu-west-1.amazonaws.com"},
		{"deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), true, s3.CodeTimeout, 0, "No answer"},
		{"canceled", &smithy.CanceledError{Err: context.Canceled}, true, s3.CodeCanceled, 0, "retried"},
		{"connection reset", sendError(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true, s3.CodeConnectionReset, 0, "closed"},
		{"unexpected EOF", sendError(io.ErrUnexpectedEOF), true, s3.CodeConnectionReset, 0, "closed"},
		{"untrusted certificate", sendError(x509.UnknownAuthorityError{}), false, s3.CodeTLS, 0, "AWS_CA_BUNDLE"},
		{"other send error", sendError(errors.New("proxyconnect tcp: refused by policy")), true, s3.CodeNetwork, 0, "network"},
		{"unrecognised", errors.New("something odd"), true, "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := s3.Classify(tt.err)
			if f == nil {
				t.Fatal("got nil, want a failure")
			}
			if f.Retryable != tt.retryable || f.Code != tt.code || f.HTTPStatus != tt.status {
				t.Errorf("got retryable=%v code %q status %d, want retryable=%v code %q status %d",
					f.Retryable, f.Code, f.HTTPStatus, tt.retryable, tt.code, tt.status)
			}
			if !strings.Contains(f.Hint, tt.hintHas) {
				t.Errorf("hint: got %q, want it to contain %q", f.Hint, tt.hintHas)
			}
			if tt.status != 0 && f.RequestID != "req-1" {
				t.Errorf("request id: got %q, want %q", f.RequestID, "req-1")
			}
			if f.Message == "" {
				t.Error("message: got none, want one")
			}
		})
	}
}

func TestClassifyNil(t *testing.T) {
	if got := s3.Classify(nil); got != nil {
		t.Errorf("Classify(nil): got %+v, want nil", got)
	}
}
