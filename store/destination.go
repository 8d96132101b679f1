package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Destination types.
const TypeAWSS3 = "aws_s3"

// Access modes of a destination.
const (
	AuthRole    = "role"
	AuthKeys    = "keys"
	AuthDefault = "default"
)

// Server-side encryption choices.
const (
	SSENone = ""
	SSES3   = "AES256"
	SSEKMS  = "aws:kms"
)

// StorageClasses are the S3 storage classes of the contract, in its order.
// A destination may also write with any other class the AWS SDK knows (see
// AllStorageClasses).
var StorageClasses = []string{"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR"}

// AllStorageClasses returns every storage class a destination may write
// with: the contract's StorageClasses, then the others the AWS SDK's S3
// client knows (EXPRESS_ONEZONE, OUTPOSTS, ...), in upper case as S3 spells
// them.
func AllStorageClasses() []string {
	all := slices.Clone(StorageClasses)
	for _, sc := range s3types.StorageClass("").Values() {
		if !slices.Contains(all, string(sc)) {
			all = append(all, string(sc))
		}
	}
	return all
}

// canonicalStorageClass returns the storage class named by s in any case,
// as S3 spells it, and false when there is none.
func canonicalStorageClass(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	return s, slices.Contains(AllStorageClasses(), s)
}

// Destination health.
const (
	HealthUnknown = "unknown"
	HealthHealthy = "healthy"
	// HealthRetrying: its latest upload attempt failed for a reason that may
	// pass (S3 down, throttling, a timeout); deliveries are being retried.
	HealthRetrying  = "retrying"
	HealthUnhealthy = "unhealthy"
)

// ExternalIDLen is the length of a generated IAM external ID.
const ExternalIDLen = 40

// DestinationConfig is where and how a destination writes. It holds no secret.
type DestinationConfig struct {
	Bucket               string `json:"bucket"`
	Region               string `json:"region"`
	Auth                 string `json:"auth"`
	RoleARN              string `json:"role_arn"`
	Endpoint             string `json:"endpoint"`
	ForcePathStyle       bool   `json:"force_path_style"`
	PathPrefix           string `json:"path_prefix"`
	StorageClass         string `json:"storage_class"`
	ServerSideEncryption string `json:"server_side_encryption"`
	KMSKeyID             string `json:"kms_key_id"`
	// DeliveryMetadata is S3 user metadata added to every object of the json
	// format, Outpost's delivery_metadata: see NormalizeDeliveryMetadata.
	DeliveryMetadata map[string]string `json:"delivery_metadata"`
}

// Credentials are a destination's secrets. ExternalID is readable; the others
// are stored encrypted and never shown again.
type Credentials struct {
	ExternalID string `json:"-"`
	Key        string `json:"key,omitempty"`
	Secret     string `json:"secret,omitempty"`
	Session    string `json:"session,omitempty"`
}

// TestStep is one step of a connection test.
type TestStep struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Warning bool   `json:"warning,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint"`
}

// TestResult is the outcome of a connection test.
type TestResult struct {
	OK    bool       `json:"ok"`
	Steps []TestStep `json:"steps"`
	At    time.Time  `json:"at"`
	// Settings is the SettingsFingerprint of the settings tested, so that a
	// page can say when they changed since; "" for tests recorded before it.
	Settings string `json:"settings,omitempty"`
}

// SettingsFingerprint is a digest of what a connection test depends on: the
// destination's configuration and credentials. It changes with any edit of
// them and with nothing else (not its name, sources or being turned on).
func (d *Destination) SettingsFingerprint() string {
	h := sha256.New()
	cfg, _ := json.Marshal(d.Config)
	h.Write(cfg)
	for _, v := range []string{d.Credentials.Key, d.Credentials.Secret, d.Credentials.Session, d.Credentials.ExternalID} {
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// SettingsChangedSinceTest reports whether the destination's settings were
// edited after its last connection test.
func (d *Destination) SettingsChangedSinceTest() bool {
	return d.LastTest != nil && d.LastTest.Settings != "" && d.LastTest.Settings != d.SettingsFingerprint()
}

// Destination is an S3 bucket that events are delivered to.
type Destination struct {
	ID          string
	Name        string
	Type        string
	Enabled     bool
	SourceIDs   []string
	Config      DestinationConfig
	Credentials Credentials
	// WizardStep is the setup wizard step a new destination stopped at; ""
	// once set up.
	WizardStep string

	Health        string
	HealthMessage string
	// HealthCode is the error code of the latest failed attempt while the
	// destination is retrying or unhealthy.
	HealthCode string
	// HealthFailures counts the upload attempts that failed since its last
	// success.
	HealthFailures  int
	HealthChangedAt time.Time
	LastTest        *TestResult

	CreatedAt time.Time
	UpdatedAt time.Time
}

var (
	bucketRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	roleARNRE    = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role/((?:[\x21-\x7e]*/)?)([\w+=,.@-]{1,64})$`)
	externalIDRE = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	regionRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	accessKeyRE  = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
	kmsKeyRE     = regexp.MustCompile(`^(arn:(aws|aws-cn|aws-us-gov):kms:[a-z0-9-]+:\d{12}:(key|alias)/[\w/+=,.@-]+|alias/[\w/+=,.@-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)
)

// ValidateBucket checks a bucket name against S3's naming rules.
func ValidateBucket(b string) error {
	switch {
	case b == "":
		return FieldErrorf("bucket", "Bucket name is required.")
	case len(b) < 3 || len(b) > 63:
		return FieldErrorf("bucket", "Bucket names are 3 to 63 characters long; %q has %d.", b, len(b))
	case strings.ToLower(b) != b:
		if ValidateBucket(strings.ToLower(b)) == nil {
			return FieldErrorf("bucket", "Bucket names use lowercase letters only: try %q.", strings.ToLower(b))
		}
		return FieldErrorf("bucket", "Bucket names use only lowercase letters, digits, dots and hyphens.")
	case !bucketRE.MatchString(b):
		return FieldErrorf("bucket", "Bucket names use only lowercase letters, digits, dots and hyphens, and begin and end with a letter or digit.")
	case strings.Contains(b, ".."), strings.Contains(b, ".-"), strings.Contains(b, "-."):
		return FieldErrorf("bucket", "Bucket names must not have two dots in a row, or a dot next to a hyphen.")
	case net.ParseIP(b) != nil:
		return FieldErrorf("bucket", "Bucket names must not look like an IP address.")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, p) {
			return FieldErrorf("bucket", "Bucket names must not start with %q (reserved by AWS).", p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, s) {
			return FieldErrorf("bucket", "Bucket names must not end with %q (reserved by AWS).", s)
		}
	}
	return nil
}

// ValidatePathPrefix checks the folder that every object key starts with.
func ValidatePathPrefix(p string) error {
	switch {
	case p == "":
		return nil
	case !utf8.ValidString(p):
		return FieldErrorf("path_prefix", "Path prefix must be valid UTF-8.")
	case len(p) > 512:
		return FieldErrorf("path_prefix", "Path prefix must be at most 512 bytes.")
	case strings.HasPrefix(p, "/"):
		return FieldErrorf("path_prefix", "Path prefix must not start with \"/\": S3 keys have no leading slash. Try %q.", strings.TrimLeft(p, "/"))
	case strings.Contains(p, "//"):
		return FieldErrorf("path_prefix", "Path prefix must not contain \"//\".")
	case strings.ContainsAny(p, "\\\x00\r\n"):
		return FieldErrorf("path_prefix", "Path prefix must not contain backslashes or control characters.")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return FieldErrorf("path_prefix", "Path prefix must not contain %q segments.", seg)
		}
	}
	return nil
}

// validateEndpoint checks a custom S3 endpoint URL.
func validateEndpoint(e string) error {
	u, err := url.Parse(e)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return FieldErrorf("endpoint", "Endpoint must be an http:// or https:// URL, e.g. http://127.0.0.1:9000.")
	case u.User != nil:
		return FieldErrorf("endpoint", "Endpoint must not contain credentials: use Access Key ID and Secret Access Key.")
	case u.RawQuery != "" || u.Fragment != "":
		return FieldErrorf("endpoint", "Endpoint must not have a query or fragment.")
	case u.Path != "" && u.Path != "/":
		return FieldErrorf("endpoint", "Endpoint must be the server's address without a path; the bucket goes in AWS Bucket Name.")
	}
	return nil
}

// Validate checks a destination before it is stored. Credentials left blank
// are checked by the store, which keeps stored values for them.
func (d *Destination) Validate() error {
	d.Name = strings.TrimSpace(d.Name)
	c := &d.Config
	c.Bucket, c.Region, c.RoleARN = strings.TrimSpace(c.Bucket), strings.TrimSpace(c.Region), strings.TrimSpace(c.RoleARN)
	c.Endpoint = strings.TrimRight(strings.TrimSpace(c.Endpoint), "/")
	if d.Type == "" {
		d.Type = TypeAWSS3
	}
	if c.StorageClass == "" {
		c.StorageClass = "STANDARD"
	}
	switch {
	case d.Name == "":
		return FieldErrorf("name", "Name is required.")
	case utf8.RuneCountInString(d.Name) > 100:
		return FieldErrorf("name", "Name must be at most 100 characters.")
	case !plainText(d.Name):
		return FieldErrorf("name", notPlainText, "Name")
	case d.Type != TypeAWSS3:
		return FieldErrorf("type", "type must be %q.", TypeAWSS3)
	}
	if c.Endpoint != "" {
		if err := validateEndpoint(c.Endpoint); err != nil {
			return err
		}
	}
	if err := ValidateBucket(c.Bucket); err != nil {
		return err
	}
	switch {
	case c.Region == "":
		return FieldErrorf("region", "Region is required.")
	case c.Endpoint == "" && !IsAWSRegion(c.Region):
		return FieldErrorf("region", "%q is not an AWS region (e.g. us-east-1). With a custom endpoint any region name is accepted.", c.Region)
	case c.Endpoint != "" && !regionRE.MatchString(c.Region):
		return FieldErrorf("region", "Region names use lowercase letters, digits and hyphens.")
	}
	if c.Auth == AuthDefault && c.Endpoint != "" {
		// The server's own identity signs only requests to AWS's endpoints:
		// a typed host would receive requests signed with it.
		return FieldErrorf("auth", "The server's own credentials cannot be used with a custom Endpoint: "+
			"s3relay never signs requests to a host typed here with its own AWS identity. Choose an IAM role or access keys, or clear Endpoint.")
	}
	switch c.Auth {
	case AuthRole:
		m := roleARNRE.FindStringSubmatch(c.RoleARN)
		if c.RoleARN == "" {
			return FieldErrorf("role_arn", "IAM Role ARN is required when s3relay assumes a role.")
		}
		if m == nil {
			return FieldErrorf("role_arn", "IAM Role ARN must look like arn:aws:iam::123456789012:role/s3relay-writer.")
		}
		if c.Endpoint == "" && m[1] != Partition(c.Region) {
			return FieldErrorf("role_arn", "The role is in the %s partition but region %s is in %s.", m[1], c.Region, Partition(c.Region))
		}
		if x := d.Credentials.ExternalID; x != "" && (len(x) < 2 || len(x) > 1224 || !externalIDRE.MatchString(x)) {
			return FieldErrorf("external_id", "IAM External ID must be 2 to 1224 letters, digits or the characters +=,.@:/-_.")
		}
	case AuthKeys:
		if k := d.Credentials.Key; k != "" {
			if c.Endpoint == "" && !accessKeyRE.MatchString(k) {
				return FieldErrorf("key", "Access Key ID looks like AKIAIOSFODNN7EXAMPLE: 16 or more capital letters and digits.")
			}
			if strings.ContainsAny(k, " \t\r\n") {
				return FieldErrorf("key", "Access Key ID must not contain spaces.")
			}
		}
		if strings.ContainsAny(d.Credentials.Secret, "\r\n") {
			return FieldErrorf("secret", "Secret Access Key must be on one line.")
		}
	case AuthDefault:
	case "":
		return FieldErrorf("auth", "Choose how s3relay gets access: role, keys or default.")
	default:
		return FieldErrorf("auth", "auth must be role, keys or default.")
	}
	if c.Auth != AuthRole && c.RoleARN != "" {
		return FieldErrorf("role_arn", "IAM Role ARN is used only with auth \"role\".")
	}
	// Storage classes match in any case ("standard_ia"); the stored value is
	// S3's upper-case name, which PutObject needs.
	sc, ok := canonicalStorageClass(c.StorageClass)
	if !ok {
		return FieldErrorf("storage_class", "Storage class %q is not one S3 knows; it must be one of %s (in any case).",
			c.StorageClass, strings.Join(AllStorageClasses(), ", "))
	}
	c.StorageClass = sc
	switch c.ServerSideEncryption {
	case SSENone, SSES3:
		if c.KMSKeyID != "" {
			return FieldErrorf("kms_key_id", "A KMS key is used only with server_side_encryption \"aws:kms\".")
		}
	case SSEKMS:
		if c.KMSKeyID != "" && !kmsKeyRE.MatchString(c.KMSKeyID) {
			return FieldErrorf("kms_key_id", "KMS key must be a key ID, a key or alias ARN, or alias/name.")
		}
	default:
		return FieldErrorf("server_side_encryption", "Server side encryption must be empty (none), AES256 or aws:kms.")
	}
	var err error
	if c.DeliveryMetadata, err = NormalizeDeliveryMetadata(c.DeliveryMetadata); err != nil {
		return err
	}
	return ValidatePathPrefix(c.PathPrefix)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// NewExternalID returns a random IAM external ID of ExternalIDLen characters.
func NewExternalID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, ExternalIDLen)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // crypto/rand.Read never fails on supported platforms
	}
	for i, v := range b {
		// 248 is the largest multiple of 62 below 256: rejecting above it keeps every character equally likely.
		for v >= 248 {
			var one [1]byte
			rand.Read(one[:])
			v = one[0]
		}
		b[i] = alphabet[int(v)%len(alphabet)]
	}
	return string(b)
}

// UseKeys gives the database the key material that seals stored secrets.
func (db *DB) UseKeys(k *Keys) { db.keys = k }

func (db *DB) sealCredentials(id string, c Credentials) ([]byte, error) {
	if c.Key == "" && c.Secret == "" && c.Session == "" {
		return nil, nil
	}
	if db.keys == nil {
		return nil, errors.New("seal credentials: no keys")
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("seal credentials: %w", err)
	}
	return db.keys.Seal(b, []byte(id)), nil
}

func (db *DB) openCredentials(id string, sealed []byte) (Credentials, error) {
	var c Credentials
	if len(sealed) == 0 {
		return c, nil
	}
	if db.keys == nil {
		return c, errors.New("open credentials: no keys")
	}
	b, err := db.keys.Open(sealed, []byte(id))
	if err != nil {
		return c, fmt.Errorf("open credentials of %s (was the data dir's key replaced?): %w", id, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("open credentials: %w", err)
	}
	return c, nil
}

// dropUnusedKeys forgets access keys a destination does not use, so no
// unused secret lingers in the database.
func dropUnusedKeys(d *Destination) {
	if d.Config.Auth != AuthKeys {
		d.Credentials.Key, d.Credentials.Secret, d.Credentials.Session = "", "", ""
	}
}

// checkCredentials requires the secrets a mode needs, once blanks have been
// filled from what was stored.
func checkCredentials(d *Destination) error {
	if d.Config.Auth != AuthKeys {
		return nil
	}
	switch {
	case d.Credentials.Key == "":
		return FieldErrorf("key", "Access Key ID is required with access keys.")
	case d.Credentials.Secret == "":
		return FieldErrorf("secret", "Secret Access Key is required with access keys.")
	}
	return nil
}

// UseEndpointCheck makes ValidateDestination, and so CreateDestination and
// UpdateDestination, refuse a custom endpoint that check refuses, with a field
// error on endpoint. The S3 client factory's check refuses a literal address
// that it would not connect to; a host name is checked when connecting.
func (db *DB) UseEndpointCheck(check func(endpoint string) error) { db.endpointCheck = check }

// ValidateDestination checks a destination as Validate does, and its custom
// endpoint with the check given to UseEndpointCheck. Returns EINVALID.
func (db *DB) ValidateDestination(d *Destination) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if db.endpointCheck == nil || d.Config.Endpoint == "" {
		return nil
	}
	if err := db.endpointCheck(d.Config.Endpoint); err != nil {
		return FieldErrorf("endpoint", "Endpoint not allowed: %v", err)
	}
	return nil
}

// CreateDestination validates and stores a new destination. In role mode an
// external ID is generated when none is given. Returns EINVALID.
func (db *DB) CreateDestination(ctx context.Context, d *Destination) error {
	if err := db.ValidateDestination(d); err != nil {
		return err
	}
	if err := checkCredentials(d); err != nil {
		return err
	}
	if d.Config.Auth == AuthRole && d.Credentials.ExternalID == "" {
		d.Credentials.ExternalID = NewExternalID()
	}
	dropUnusedKeys(d)
	now := db.Now()
	d.ID, d.CreatedAt, d.UpdatedAt, d.Health = NewID("dst"), now, now, HealthUnknown
	return db.writeDestination(ctx, d, true)
}

// UpdateDestination validates and stores changes. Blank key, secret and
// session keep their stored values; switching to role mode generates an
// external ID when none exists. Returns EINVALID or ENOTFOUND.
func (db *DB) UpdateDestination(ctx context.Context, d *Destination) error {
	old, err := db.DestinationByID(ctx, d.ID)
	if err != nil {
		return err
	}
	if err := db.ValidateDestination(d); err != nil {
		return err
	}
	// Secrets are write-only: a blank field means "keep what is stored".
	// Keys are kept only while they are used: a destination moved to role or
	// default access drops them for good.
	if d.Config.Auth == AuthKeys && old.Config.Auth == AuthKeys {
		if d.Credentials.Key == "" {
			d.Credentials.Key = old.Credentials.Key
		}
		if d.Credentials.Secret == "" {
			d.Credentials.Secret = old.Credentials.Secret
		}
		if d.Credentials.Session == "" {
			d.Credentials.Session = old.Credentials.Session
		}
	}
	dropUnusedKeys(d)
	if d.Credentials.ExternalID == "" {
		d.Credentials.ExternalID = old.Credentials.ExternalID
	}
	if d.Config.Auth == AuthRole && d.Credentials.ExternalID == "" {
		d.Credentials.ExternalID = NewExternalID()
	}
	if err := checkCredentials(d); err != nil {
		return err
	}
	d.CreatedAt, d.UpdatedAt = old.CreatedAt, db.Now()
	d.Health, d.HealthMessage, d.HealthChangedAt, d.LastTest = old.Health, old.HealthMessage, old.HealthChangedAt, old.LastTest
	d.HealthCode, d.HealthFailures = old.HealthCode, old.HealthFailures
	return db.writeDestination(ctx, d, false)
}

func (db *DB) writeDestination(ctx context.Context, d *Destination, create bool) error {
	cfg, err := json.Marshal(d.Config)
	if err != nil {
		return fmt.Errorf("save destination: %w", err)
	}
	sealed, err := db.sealCredentials(d.ID, d.Credentials)
	if err != nil {
		return err
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save destination: %w", err)
	}
	defer tx.Rollback()
	if create {
		_, err = tx.ExecContext(ctx, `INSERT INTO destinations (id, name, type, enabled, config, external_id, credentials, wizard_step, health, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.ID, d.Name, d.Type, d.Enabled, string(cfg), d.Credentials.ExternalID, sealed, d.WizardStep, d.Health, ms(d.CreatedAt), ms(d.UpdatedAt))
	} else {
		var res sql.Result
		res, err = tx.ExecContext(ctx, `UPDATE destinations SET name = ?, type = ?, enabled = ?, config = ?, external_id = ?, credentials = ?, wizard_step = ?, updated_at = ? WHERE id = ?`,
			d.Name, d.Type, d.Enabled, string(cfg), d.Credentials.ExternalID, sealed, d.WizardStep, ms(d.UpdatedAt), d.ID)
		if err == nil {
			if n, _ := res.RowsAffected(); n == 0 {
				return Errorf(ENOTFOUND, "Destination not found.")
			}
		}
	}
	if err != nil {
		return fmt.Errorf("save destination: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM destination_sources WHERE destination_id = ?`, d.ID); err != nil {
		return fmt.Errorf("save destination: %w", err)
	}
	seen := map[string]bool{}
	for _, sid := range d.SourceIDs {
		if seen[sid] {
			continue
		}
		seen[sid] = true
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sources WHERE id = ?`, sid).Scan(&n); err != nil {
			return fmt.Errorf("save destination: %w", err)
		}
		if n == 0 {
			return FieldErrorf("source_ids", "Source %q does not exist.", sid)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO destination_sources (destination_id, source_id) VALUES (?, ?)`, d.ID, sid); err != nil {
			return fmt.Errorf("save destination: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save destination: %w", err)
	}
	return nil
}

const destinationColumns = `id, name, type, enabled, config, external_id, credentials, wizard_step, health, health_message,
	health_changed_at, last_test_result, created_at, updated_at, health_code, health_failures`

func (db *DB) scanDestination(s scanner) (*Destination, error) {
	var d Destination
	var cfg, lastTest string
	var sealed []byte
	var changed sql.NullInt64
	var created, updated int64
	if err := s.Scan(&d.ID, &d.Name, &d.Type, &d.Enabled, &cfg, &d.Credentials.ExternalID, &sealed, &d.WizardStep,
		&d.Health, &d.HealthMessage, &changed, &lastTest, &created, &updated, &d.HealthCode, &d.HealthFailures); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(cfg), &d.Config); err != nil {
		return nil, fmt.Errorf("destination %s config: %w", d.ID, err)
	}
	creds, err := db.openCredentials(d.ID, sealed)
	if err != nil {
		return nil, err
	}
	creds.ExternalID = d.Credentials.ExternalID
	d.Credentials = creds
	if lastTest != "" {
		d.LastTest = &TestResult{}
		if err := json.Unmarshal([]byte(lastTest), d.LastTest); err != nil {
			return nil, fmt.Errorf("destination %s last test: %w", d.ID, err)
		}
	}
	d.HealthChangedAt, d.CreatedAt, d.UpdatedAt = fromNullMS(changed), fromMS(created), fromMS(updated)
	return &d, nil
}

// DestinationByID returns a destination with its credentials. Returns ENOTFOUND.
func (db *DB) DestinationByID(ctx context.Context, id string) (*Destination, error) {
	d, err := db.scanDestination(db.read.QueryRowContext(ctx, `SELECT `+destinationColumns+` FROM destinations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "Destination not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("get destination: %w", err)
	}
	if d.SourceIDs, err = db.destinationSources(ctx, d.ID); err != nil {
		return nil, err
	}
	return d, nil
}

func (db *DB) destinationSources(ctx context.Context, id string) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT source_id FROM destination_sources WHERE destination_id = ? ORDER BY source_id`, id)
	if err != nil {
		return nil, fmt.Errorf("destination sources: %w", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("destination sources: %w", err)
		}
		ids = append(ids, s)
	}
	return ids, rows.Err()
}

// ListDestinations returns one page of destinations, newest first, and the
// cursor of the next page.
func (db *DB) ListDestinations(ctx context.Context, p Page) ([]*Destination, string, error) {
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+destinationColumns+` FROM destinations WHERE id < ? ORDER BY id DESC LIMIT ?`, p.before(), p.Limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list destinations: %w", err)
	}
	var ds []*Destination
	for rows.Next() {
		d, err := db.scanDestination(rows)
		if err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("list destinations: %w", err)
		}
		ds = append(ds, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list destinations: %w", err)
	}
	ds, cursor := next(ds, p.Limit, func(d *Destination) string { return d.ID })
	for _, d := range ds {
		if d.SourceIDs, err = db.destinationSources(ctx, d.ID); err != nil {
			return nil, "", err
		}
	}
	return ds, cursor, nil
}

// DeleteDestination deletes a destination, its mappings and its delivery
// history. Returns ENOTFOUND.
func (db *DB) DeleteDestination(ctx context.Context, id string) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM destinations WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete destination: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "Destination not found.")
	}
	return nil
}

// SetDestinationEnabled turns delivery to a destination on or off. Returns ENOTFOUND.
func (db *DB) SetDestinationEnabled(ctx context.Context, id string, enabled bool) error {
	res, err := db.write.ExecContext(ctx, `UPDATE destinations SET enabled = ?, wizard_step = CASE WHEN ? = 1 THEN '' ELSE wizard_step END, updated_at = ? WHERE id = ?`,
		enabled, enabled, ms(db.Now()), id)
	if err != nil {
		return fmt.Errorf("enable destination: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "Destination not found.")
	}
	return nil
}

// SetWizardStep records how far the setup of a destination has come: the
// step "Continue setup" opens. A finished setup (no step) is left alone.
func (db *DB) SetWizardStep(ctx context.Context, id, step string) error {
	if _, err := db.write.ExecContext(ctx, `UPDATE destinations SET wizard_step = ? WHERE id = ? AND wizard_step <> ''`, step, id); err != nil {
		return fmt.Errorf("record setup step: %w", err)
	}
	return nil
}

// RecordTest stores the outcome of a connection test as the destination's
// last test; a passing test also marks it healthy.
func (db *DB) RecordTest(ctx context.Context, id string, r TestResult) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("record test: %w", err)
	}
	res, err := db.write.ExecContext(ctx, `UPDATE destinations SET last_test_at = ?, last_test_ok = ?, last_test_result = ? WHERE id = ?`,
		ms(r.At), r.OK, string(b), id)
	if err != nil {
		return fmt.Errorf("record test: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "Destination not found.")
	}
	if r.OK {
		// A pass says the connection works now; while uploads fail, the
		// next upload, not the test, says whether they work again.
		_, err := db.write.ExecContext(ctx, `UPDATE destinations SET health = ?, health_message = '', health_changed_at = ?
			WHERE id = ? AND health = ?`, HealthHealthy, ms(db.Now()), id, HealthUnknown)
		if err != nil {
			return fmt.Errorf("record test: %w", err)
		}
	}
	return nil
}

// SetHealth records a destination's health; the time changes only when the
// health does. It clears the latest failure's code and count: use
// RecordFailure for a failed attempt.
func (db *DB) SetHealth(ctx context.Context, id, health, message string) error {
	_, err := db.write.ExecContext(ctx, `UPDATE destinations SET
		health_changed_at = CASE WHEN health <> ? THEN ? ELSE health_changed_at END,
		health = ?, health_message = ?, health_code = '', health_failures = 0 WHERE id = ?`, health, ms(db.Now()), health, message, id)
	if err != nil {
		return fmt.Errorf("set health: %w", err)
	}
	return nil
}

// MarkHealthy records a successful upload to a destination: its health
// becomes healthy unless it is already. The stored health is what counts,
// not a replica's memory of what it wrote last: another replica may have
// recorded a failure since.
func (db *DB) MarkHealthy(ctx context.Context, id string) error {
	// The read comes first: almost every success finds the destination
	// healthy, and a read does not queue behind the single writer.
	var one int
	err := db.read.QueryRowContext(ctx, `SELECT 1 FROM destinations WHERE id = ? AND health = 'healthy' AND health_failures = 0
		AND health_message = '' AND health_code = ''`, id).Scan(&one)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("set health: %w", err)
	}
	return db.SetHealth(ctx, id, HealthHealthy, "")
}

// RecordFailure records a failed upload attempt of a destination: its health
// becomes health (HealthRetrying or HealthUnhealthy) with the attempt's
// error code and message, and one more attempt counts as failed since the
// last success.
func (db *DB) RecordFailure(ctx context.Context, id, health, code, message string) error {
	_, err := db.write.ExecContext(ctx, `UPDATE destinations SET
		health_changed_at = CASE WHEN health <> ? THEN ? ELSE health_changed_at END,
		health = ?, health_message = ?, health_code = ?, health_failures = health_failures + 1 WHERE id = ?`,
		health, ms(db.Now()), health, message, code, id)
	if err != nil {
		return fmt.Errorf("record failure: %w", err)
	}
	return nil
}
