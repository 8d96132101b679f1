// Package s3 writes objects to S3 for s3relay's destinations: it builds and caches one client per
// destination (credential modes keys, default and role with AssumeRole + ExternalId), uploads with
// conditional writes and checksums, classifies failures once (retryable or permanent, with a hint naming
// the AWS setting to fix), runs the destination connection test, and generates the IAM policies and CLI
// commands the setup wizard shows.
//
// It does not import store: callers translate a stored destination into a Config.
package s3

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Credential modes of Config.Auth.
const (
	// AuthRole assumes Config.RoleARN with Config.ExternalID, using the server's own AWS identity.
	AuthRole = "role"
	// AuthKeys uses the static Config.AccessKey, Config.Secret and optional Config.Session.
	AuthKeys = "keys"
	// AuthDefault uses the server's own credential chain (environment, shared config, instance role).
	AuthDefault = "default"
)

// Server-side encryption values of Config.SSE.
const (
	// SSENone leaves encryption to the bucket's default.
	SSENone = ""
	// SSES3 asks for S3-managed keys.
	SSES3 = "AES256"
	// SSEKMS asks for AWS KMS keys: Config.KMSKeyID, or the account's aws/s3 key when empty.
	SSEKMS = "aws:kms"
)

// Config is one destination's S3 settings and credentials, mirroring the destination config and
// credentials of the management API.
type Config struct {
	Bucket         string
	Region         string
	Auth           string
	RoleARN        string
	ExternalID     string
	Endpoint       string
	ForcePathStyle bool
	PathPrefix     string
	StorageClass   string
	SSE            string
	KMSKeyID       string
	AccessKey      string
	Secret         string
	Session        string
}

// check reports the settings a client cannot be built without. Full validation of user input (bucket
// naming rules, region list, ARN format) belongs to the store; this only guards against calling AWS with
// a config that cannot work.
func (c Config) check() error {
	var problems []string
	if c.Bucket == "" {
		problems = append(problems, "bucket is empty")
	}
	if c.Region == "" {
		problems = append(problems, "region is empty")
	}
	switch c.Auth {
	case AuthRole:
		if c.RoleARN == "" {
			problems = append(problems, "role mode needs a role ARN")
		}
	case AuthKeys:
		if c.AccessKey == "" || c.Secret == "" {
			problems = append(problems, "keys mode needs an access key id and a secret access key")
		}
	case AuthDefault:
		if c.Endpoint != "" {
			problems = append(problems, ErrDefaultAuthEndpoint.Error())
		}
	default:
		problems = append(problems, fmt.Sprintf("auth %q is not one of role, keys, default", c.Auth))
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, fmt.Sprintf("endpoint %q is not an http(s) URL", c.Endpoint))
		}
	}
	switch c.SSE {
	case SSENone, SSES3, SSEKMS:
	default:
		problems = append(problems, fmt.Sprintf("server-side encryption %q is not one of AES256, aws:kms", c.SSE))
	}
	if len(problems) > 0 {
		return &configError{problems: problems}
	}
	return nil
}

// ErrDefaultAuthEndpoint is the reason a destination with auth "default" and a custom endpoint is
// refused: the server's own AWS identity would sign requests to a host a user typed.
var ErrDefaultAuthEndpoint = errors.New(`auth "default" cannot be used with a custom endpoint: ` +
	"the server's own AWS credentials never sign requests to a host typed in Endpoint")

// configError is a destination that no client can be built for. It is permanent: only a change of
// the destination's settings gets past it.
type configError struct{ problems []string }

func (e *configError) Error() string { return "invalid destination: " + strings.Join(e.problems, "; ") }

// Is reports whether the problems include ErrDefaultAuthEndpoint, for errors.Is.
func (e *configError) Is(target error) bool {
	return target == ErrDefaultAuthEndpoint && slices.Contains(e.problems, target.Error())
}

// ObjectKey returns the full object key for name under the destination's path prefix. Put writes keys
// exactly as given, so callers build (and persist) full keys with ObjectKey.
func (c Config) ObjectKey(name string) string { return c.PathPrefix + name }

// fingerprint identifies every setting that shapes a client, secrets included, so that a changed
// destination gets a new client; only its hash is kept.
func (c Config) fingerprint() string {
	b, err := json.Marshal(c)
	if err != nil {
		// A struct of strings and a bool always marshals.
		panic(fmt.Sprintf("marshal config: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
