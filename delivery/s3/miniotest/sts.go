package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// DefaultCallerARN is the identity the STS front reports for its caller unless STSConfig says otherwise.
const DefaultCallerARN = "arn:aws:iam::111122223333:user/s3relay-server"

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// STSConfig is what the STS front lets its caller do.
type STSConfig struct {
	// RoleARN is the only role that may be assumed.
	RoleARN string
	// ExternalID is the external ID the role's trust policy requires; AssumeRole calls must send exactly it.
	ExternalID string
	// CallerARN is the caller's own identity, as GetCallerIdentity reports it; DefaultCallerARN when empty.
	CallerARN string
	// SessionPolicy, when set, is passed on to MinIO as the session policy of the temporary credentials,
	// so tests can hand out credentials that may do less (for example no s3:DeleteObject).
	SessionPolicy string
	// Lifetime, when set, is the lifetime the front reports for the credentials it hands out (MinIO's own
	// credentials stay valid longer), so tests can watch clients refresh them before they expire.
	Lifetime time.Duration
}

// STS is a test front for AWS STS. It authenticates its caller by access key id (the signature is not
// checked), answers GetCallerIdentity, and answers AssumeRole only for the configured role and external
// ID -- with AccessDenied in AWS's XML error shape otherwise -- by handing out real temporary
// credentials from MinIO's own STS.
type STS struct {
	// URL is the front's base URL, for AWS_ENDPOINT_URL_STS.
	URL string
	// AccessKey and SecretKey are the caller's own credentials, the only ones the front accepts.
	AccessKey string
	SecretKey string

	cfg         STSConfig
	minio       *sts.Client
	assumeCalls atomic.Int64
}

// StartSTS starts an STS front that hands out credentials of srv; it is closed in tb.Cleanup.
func StartSTS(tb testing.TB, srv *Server, cfg STSConfig) *STS {
	tb.Helper()
	if cfg.CallerARN == "" {
		cfg.CallerARN = DefaultCallerARN
	}
	s := &STS{
		AccessKey: "AKIA" + rand.Text()[:16],
		SecretKey: rand.Text() + rand.Text(),
		cfg:       cfg,
		minio: sts.New(sts.Options{
			BaseEndpoint: aws.String(srv.Endpoint),
			Region:       srv.Region,
			Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		}),
	}
	if err := s.waitIAM(tb.Context()); err != nil {
		tb.Fatalf("miniotest: %v", err)
	}
	hs := httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	tb.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// waitIAM waits until MinIO's STS hands out credentials. MinIO reports itself
// ready before its IAM subsystem has loaded, and answers AssumeRole with
// "Server not initialized" until then, mostly on a busy machine.
func (s *STS) waitIAM(ctx context.Context) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		_, err := s.minio.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/probe"), RoleSessionName: aws.String("probe")})
		if err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "Server not initialized") || time.Now().After(deadline) {
			return fmt.Errorf("MinIO STS not ready: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// AssumeRoleCalls returns how many AssumeRole requests the front has received, granted or not.
func (s *STS) AssumeRoleCalls() int64 { return s.assumeCalls.Load() }

// Setenv points the AWS SDK's default configuration at the front for the rest of the test, after
// IsolateAWSEnv: the STS endpoint, and the caller's credentials as the server's own identity. Tests using
// it cannot run in parallel.
func (s *STS) Setenv(tb testing.TB) {
	tb.Helper()
	IsolateAWSEnv(tb)
	tb.Setenv("AWS_ENDPOINT_URL_STS", s.URL)
	tb.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	tb.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
}

// IsolateAWSEnv keeps the machine running the test out of the AWS SDK's default configuration for the
// rest of the test: no credentials, profiles, shared config files, endpoint overrides or instance
// metadata, and AWS_REGION set to Region. Tests using it cannot run in parallel.
func IsolateAWSEnv(tb testing.TB) {
	tb.Helper()
	dir := tb.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                      "",
		"AWS_SECRET_ACCESS_KEY":                  "",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_PROFILE":                            "",
		"AWS_DEFAULT_PROFILE":                    "",
		"AWS_ROLE_ARN":                           "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_ENDPOINT_URL":                       "",
		"AWS_ENDPOINT_URL_S3":                    "",
		"AWS_ENDPOINT_URL_STS":                   "",
		"AWS_REGION":                             Region,
		"AWS_DEFAULT_REGION":                     Region,
		"AWS_CONFIG_FILE":                        filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE":            filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":              "true",
	} {
		tb.Setenv(k, v)
	}
}

func (s *STS) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeSTSError(w, http.StatusBadRequest, "InvalidParameterValue", err.Error())
		return
	}
	if key := callerKey(r); key != s.AccessKey {
		writeSTSError(w, http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	}
	switch action := r.Form.Get("Action"); action {
	case "GetCallerIdentity":
		s.getCallerIdentity(w)
	case "AssumeRole":
		s.assumeCalls.Add(1)
		s.assumeRole(w, r)
	default:
		writeSTSError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %q for version 2011-06-15.", action))
	}
}

// callerKey returns the access key id of a SigV4 Authorization header, or "".
func callerKey(r *http.Request) string {
	_, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(cred, "/")
	return key
}

func (s *STS) getCallerIdentity(w http.ResponseWriter) {
	type result struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	}
	writeSTSResponse(w, "GetCallerIdentityResponse", "GetCallerIdentityResult", result{
		Arn: s.cfg.CallerARN, UserID: s.AccessKey, Account: arnAccount(s.cfg.CallerARN),
	})
}

func (s *STS) assumeRole(w http.ResponseWriter, r *http.Request) {
	roleARN, externalID, session := r.Form.Get("RoleArn"), r.Form.Get("ExternalId"), r.Form.Get("RoleSessionName")
	if roleARN == "" || session == "" {
		writeSTSError(w, http.StatusBadRequest, "ValidationError", "RoleArn and RoleSessionName are required.")
		return
	}
	// AWS answers a wrong role and a wrong external ID alike, so the front does too.
	if roleARN != s.cfg.RoleARN || externalID != s.cfg.ExternalID {
		writeSTSError(w, http.StatusForbidden, "AccessDenied", fmt.Sprintf(
			"User: %s is not authorized to perform: sts:AssumeRole on resource: %s", s.cfg.CallerARN, roleARN))
		return
	}
	duration := int32(3600)
	if d, err := strconv.ParseInt(r.Form.Get("DurationSeconds"), 10, 32); err == nil && d >= 900 && d <= 43200 {
		duration = int32(d)
	}
	in := &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String(session), DurationSeconds: aws.Int32(duration)}
	if s.cfg.SessionPolicy != "" {
		in.Policy = aws.String(s.cfg.SessionPolicy)
	}
	out, err := s.minio.AssumeRole(r.Context(), in)
	if err != nil {
		writeSTSError(w, http.StatusInternalServerError, "InternalFailure", "MinIO AssumeRole: "+err.Error())
		return
	}
	expiration := aws.ToTime(out.Credentials.Expiration)
	if s.cfg.Lifetime > 0 {
		expiration = time.Now().Add(s.cfg.Lifetime)
	}
	type creds struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	type user struct {
		Arn           string `xml:"Arn"`
		AssumedRoleID string `xml:"AssumedRoleId"`
	}
	type result struct {
		Credentials     creds `xml:"Credentials"`
		AssumedRoleUser user  `xml:"AssumedRoleUser"`
	}
	roleName := roleARN[strings.LastIndex(roleARN, "/")+1:]
	writeSTSResponse(w, "AssumeRoleResponse", "AssumeRoleResult", result{
		Credentials: creds{
			AccessKeyID:     aws.ToString(out.Credentials.AccessKeyId),
			SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
			SessionToken:    aws.ToString(out.Credentials.SessionToken),
			Expiration:      expiration.UTC().Format(time.RFC3339),
		},
		AssumedRoleUser: user{
			Arn:           fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", arnAccount(roleARN), roleName, session),
			AssumedRoleID: "AROAS3RELAYTEST:" + session,
		},
	})
}

// arnAccount returns the account field of an ARN (arn:partition:service:region:account:resource).
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

func writeSTSResponse(w http.ResponseWriter, response, resultName string, result any) {
	type metadata struct {
		RequestID string `xml:"RequestId"`
	}
	body := struct {
		XMLName  xml.Name
		Xmlns    string `xml:"xmlns,attr"`
		Result   any
		Metadata metadata `xml:"ResponseMetadata"`
	}{
		XMLName:  xml.Name{Local: response},
		Xmlns:    stsNamespace,
		Result:   wrapped{name: resultName, value: result},
		Metadata: metadata{RequestID: requestID()},
	}
	writeXML(w, http.StatusOK, body.Metadata.RequestID, body)
}

// wrapped marshals value as an element called name; the STS result element's name depends on the action.
type wrapped struct {
	name  string
	value any
}

func (v wrapped) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	return e.EncodeElement(v.value, xml.StartElement{Name: xml.Name{Local: v.name}})
}

func writeSTSError(w http.ResponseWriter, status int, code, message string) {
	type stsError struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	body := struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Xmlns     string   `xml:"xmlns,attr"`
		Error     stsError `xml:"Error"`
		RequestID string   `xml:"RequestId"`
	}{Xmlns: stsNamespace, Error: stsError{Type: fault, Code: code, Message: message}, RequestID: requestID()}
	writeXML(w, status, body.RequestID, body)
}

func writeXML(w http.ResponseWriter, status int, requestID string, body any) {
	out, err := xml.Marshal(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	// STS names its request id header x-amzn-requestid and S3 x-amz-request-id; both fronts use this.
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.Header().Set("X-Amz-Request-Id", requestID)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

func requestID() string { return strings.ToLower(rand.Text()) }
