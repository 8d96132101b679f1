package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
)

// apiDestination is a destination in the management API (CONTRACT §4).
// Key, secret and session are write-only: they are always empty here.
// Added to the contract: health (unknown, healthy, retrying or unhealthy),
// health_message, health_code and health_failures (the latest failed
// attempt's code, and the attempts failed since the last success),
// health_changed_at, last_test (the answer of the last connection test, null
// before the first), created_at and updated_at.
type apiDestination struct {
	ID            string                  `json:"id"`
	Name          string                  `json:"name"`
	Type          string                  `json:"type"`
	Enabled       bool                    `json:"enabled"`
	SourceIDs     []string                `json:"source_ids"`
	Config        store.DestinationConfig `json:"config"`
	Credentials   apiCredentials          `json:"credentials"`
	Health        string                  `json:"health"`
	HealthMessage string                  `json:"health_message"`
	HealthCode    string                  `json:"health_code"`
	// HealthFailures counts the upload attempts failed since the last success.
	HealthFailures  int               `json:"health_failures"`
	HealthChangedAt *time.Time        `json:"health_changed_at"`
	LastTest        *store.TestResult `json:"last_test"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
}

type apiCredentials struct {
	ExternalID string `json:"external_id"`
	Key        string `json:"key"`
	Secret     string `json:"secret"`
	Session    string `json:"session"`
}

func toAPIDestination(d *store.Destination) apiDestination {
	ids := d.SourceIDs
	if ids == nil {
		ids = []string{}
	}
	out := apiDestination{
		ID: d.ID, Name: d.Name, Type: d.Type, Enabled: d.Enabled, SourceIDs: ids, Config: d.Config,
		Credentials: apiCredentials{ExternalID: d.Credentials.ExternalID},
		Health:      d.Health, HealthMessage: d.HealthMessage, HealthCode: d.HealthCode, HealthFailures: d.HealthFailures,
		LastTest: d.LastTest, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
	if !d.HealthChangedAt.IsZero() {
		out.HealthChangedAt = &d.HealthChangedAt
	}
	if out.Config.DeliveryMetadata == nil {
		out.Config.DeliveryMetadata = map[string]string{}
	}
	return out
}

// destinationInput is the body of POST and PATCH /destinations. Every field
// is a pointer so that PATCH changes only the fields present. The read-only
// fields of a response are listed so that sending one back is refused by
// name rather than as an unknown field.
type destinationInput struct {
	Name        *string           `json:"name"`
	Type        *string           `json:"type"`
	Enabled     *bool             `json:"enabled"`
	SourceIDs   *[]string         `json:"source_ids"`
	Config      *configInput      `json:"config"`
	Credentials *credentialsInput `json:"credentials"`

	ID            json.RawMessage `json:"id"`
	Health        json.RawMessage `json:"health"`
	HealthMessage json.RawMessage `json:"health_message"`
	HealthCode    json.RawMessage `json:"health_code"`
	HealthFails   json.RawMessage `json:"health_failures"`
	HealthChanged json.RawMessage `json:"health_changed_at"`
	LastTest      json.RawMessage `json:"last_test"`
	CreatedAt     json.RawMessage `json:"created_at"`
	UpdatedAt     json.RawMessage `json:"updated_at"`
}

type configInput struct {
	Bucket               *string `json:"bucket"`
	Region               *string `json:"region"`
	Auth                 *string `json:"auth"`
	RoleARN              *string `json:"role_arn"`
	Endpoint             *string `json:"endpoint"`
	ForcePathStyle       *bool   `json:"force_path_style"`
	PathPrefix           *string `json:"path_prefix"`
	StorageClass         *string `json:"storage_class"`
	ServerSideEncryption *string `json:"server_side_encryption"`
	KMSKeyID             *string `json:"kms_key_id"`
	// DeliveryMetadata replaces the whole set when sent; {} clears it.
	DeliveryMetadata *map[string]string `json:"delivery_metadata"`
}

type credentialsInput struct {
	ExternalID *string `json:"external_id"`
	Key        *string `json:"key"`
	Secret     *string `json:"secret"`
	Session    *string `json:"session"`
}

// set copies *p into *dst when the field was sent.
func set[T any](dst *T, p *T) {
	if p != nil {
		*dst = *p
	}
}

// apply writes the fields present in the input onto d.
func (in *destinationInput) apply(d *store.Destination) error {
	for name, raw := range map[string]json.RawMessage{"id": in.ID, "health": in.Health, "health_message": in.HealthMessage,
		"health_code": in.HealthCode, "health_failures": in.HealthFails, "health_changed_at": in.HealthChanged, "last_test": in.LastTest, "created_at": in.CreatedAt, "updated_at": in.UpdatedAt} {
		if raw != nil {
			return store.FieldErrorf(name, "%s is read-only: leave it out.", name)
		}
	}
	set(&d.Name, in.Name)
	set(&d.Type, in.Type)
	set(&d.Enabled, in.Enabled)
	if in.SourceIDs != nil {
		d.SourceIDs = slices.Clone(*in.SourceIDs)
		if d.SourceIDs == nil {
			d.SourceIDs = []string{}
		}
	}
	if c := in.Config; c != nil {
		dc := &d.Config
		set(&dc.Bucket, c.Bucket)
		set(&dc.Region, c.Region)
		set(&dc.Auth, c.Auth)
		set(&dc.RoleARN, c.RoleARN)
		set(&dc.Endpoint, c.Endpoint)
		set(&dc.ForcePathStyle, c.ForcePathStyle)
		set(&dc.PathPrefix, c.PathPrefix)
		set(&dc.StorageClass, c.StorageClass)
		set(&dc.ServerSideEncryption, c.ServerSideEncryption)
		set(&dc.KMSKeyID, c.KMSKeyID)
		set(&dc.DeliveryMetadata, c.DeliveryMetadata)
		// Switching mode or encryption drops the settings only the old one
		// used, unless they are sent again (and then refused by name).
		if c.Auth != nil && *c.Auth != store.AuthRole && c.RoleARN == nil {
			dc.RoleARN = ""
		}
		if c.ServerSideEncryption != nil && *c.ServerSideEncryption != store.SSEKMS && c.KMSKeyID == nil {
			dc.KMSKeyID = ""
		}
	}
	if cr := in.Credentials; cr != nil {
		// Blank secrets keep the stored ones: responses never show them, so a
		// client sending back what it read must not erase them.
		for _, f := range []struct{ dst, src *string }{
			{&d.Credentials.ExternalID, cr.ExternalID}, {&d.Credentials.Key, cr.Key},
			{&d.Credentials.Secret, cr.Secret}, {&d.Credentials.Session, cr.Session},
		} {
			if f.src != nil && *f.src != "" {
				*f.dst = *f.src
			}
		}
	}
	return nil
}

// destinationFieldPaths names store fields by their path in the API's JSON,
// so that an error's "field" points at what to fix: "config.bucket",
// "credentials.secret".
var destinationFieldPaths = map[string]string{
	"bucket": "config.bucket", "region": "config.region", "auth": "config.auth", "role_arn": "config.role_arn",
	"endpoint": "config.endpoint", "force_path_style": "config.force_path_style", "path_prefix": "config.path_prefix",
	"storage_class": "config.storage_class", "server_side_encryption": "config.server_side_encryption",
	"kms_key_id": "config.kms_key_id", "delivery_metadata": "config.delivery_metadata", "external_id": "credentials.external_id", "key": "credentials.key",
	"secret": "credentials.secret", "session": "credentials.session",
}

// apiDestinationError renames the field of a validation error to its JSON path.
func apiDestinationError(err error) error {
	var e *store.Error
	if errors.As(err, &e) {
		if p, ok := destinationFieldPaths[e.Field]; ok {
			return &store.Error{Code: e.Code, Message: e.Message, Field: p}
		}
	}
	return err
}

func (s *Server) handleAPIDestinationList(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	ds, next, err := s.db.ListDestinations(c.Request().Context(), p)
	if err != nil {
		return err
	}
	out := listResponse[apiDestination]{Data: []apiDestination{}, Next: next}
	for _, d := range ds {
		out.Data = append(out.Data, toAPIDestination(d))
	}
	return c.JSON(http.StatusOK, out)
}

// handleAPIDestinationCreate creates a destination. "enabled" defaults to
// true: a destination created through the API delivers at once.
func (s *Server) handleAPIDestinationCreate(c echo.Context) error {
	var in destinationInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	d := &store.Destination{Type: store.TypeAWSS3, Enabled: true, SourceIDs: []string{}}
	if err := in.apply(d); err != nil {
		return err
	}
	if err := s.db.CreateDestination(c.Request().Context(), d); err != nil {
		return apiDestinationError(err)
	}
	s.log.Info("destination created", "destination", d.ID, "name", d.Name, "by", actor(c))
	return c.JSON(http.StatusCreated, toAPIDestination(d))
}

func (s *Server) handleAPIDestinationGet(c echo.Context) error {
	d, err := s.db.DestinationByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIDestination(d))
}

// handleAPIDestinationUpdate changes the fields present in the body. Turning
// a destination on also ends its dashboard setup.
func (s *Server) handleAPIDestinationUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.db.DestinationByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	var in destinationInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if err := in.apply(d); err != nil {
		return err
	}
	if in.Enabled != nil && *in.Enabled {
		d.WizardStep = ""
	}
	if err := s.db.UpdateDestination(ctx, d); err != nil {
		return apiDestinationError(err)
	}
	s.destinations.Forget(d.ID)
	// Read back, for the health and last test the update kept.
	if d, err = s.db.DestinationByID(ctx, d.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIDestination(d))
}

func (s *Server) handleAPIDestinationDelete(c echo.Context) error {
	id := c.Param("id")
	if err := s.db.DeleteDestination(c.Request().Context(), id); err != nil {
		return err
	}
	s.destinations.Forget(id)
	s.log.Info("destination deleted", "destination", id, "by", actor(c))
	return c.NoContent(http.StatusNoContent)
}

// handleAPIDestinationTest runs the connection test and answers its steps:
// store.TestResult is the API's shape, {"ok", "steps": [{"name", "ok",
// "code", "message", "hint"}]}, with "at" added, and "warning": true on a
// step that passed but wants attention.
func (s *Server) handleAPIDestinationTest(c echo.Context) error {
	res, err := s.destinations.Test(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}
