package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/delivery/format"
	"github.com/s3relay/s3relay/store"
)

// apiDelivery is a delivery (one S3 object) in the management API. Times
// that are not set are null.
type apiDelivery struct {
	ID            string     `json:"id"`
	DestinationID string     `json:"destination_id"`
	MappingID     string     `json:"mapping_id"`
	Key           string     `json:"key"`
	Status        string     `json:"status"`
	Events        int        `json:"events"`
	Bytes         int64      `json:"bytes"`
	Attempts      int        `json:"attempts"`
	FirstEventAt  *time.Time `json:"first_event_at"`
	LastEventAt   *time.Time `json:"last_event_at"`
	CreatedAt     time.Time  `json:"created_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LastError     string     `json:"last_error"`
	LastErrorCode string     `json:"last_error_code"`
	Test          bool       `json:"test"`
}

// apiAttempt is one entry of a delivery's attempt log.
type apiAttempt struct {
	N          int       `json:"n"`
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
	OK         bool      `json:"ok"`
	HTTPStatus int       `json:"http_status"`
	Code       string    `json:"code"`
	Message    string    `json:"message"`
	RequestID  string    `json:"request_id"`
	// Replica is an addition to the contract: the replica that made it.
	Replica string `json:"replica"`
}

// apiDeliveryDetail is GET /deliveries/{id}: the delivery and its attempts.
type apiDeliveryDetail struct {
	apiDelivery
	AttemptLog []apiAttempt `json:"attempt_log"`
	// Nulls, for a parquet file, counts per column the values written as
	// null because they did not fit its type (from the stored events).
	Nulls []format.ColumnNulls `json:"nulls,omitempty"`
}

func apiDeliveryTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toAPIDelivery(d *store.Delivery) apiDelivery {
	return apiDelivery{
		ID: d.ID, DestinationID: d.DestinationID, MappingID: d.MappingID, Key: d.Key, Status: d.Status,
		Events: d.Events, Bytes: d.Bytes, Attempts: d.Attempts,
		FirstEventAt: apiDeliveryTime(d.FirstEventAt), LastEventAt: apiDeliveryTime(d.LastEventAt), CreatedAt: d.CreatedAt,
		DeliveredAt: apiDeliveryTime(d.DeliveredAt), NextAttemptAt: apiDeliveryTime(d.NextAttemptAt),
		LastError: d.LastError, LastErrorCode: d.LastErrorCode, Test: d.Test,
	}
}

func toAPIDeliveryDetail(d *store.Delivery, attempts []store.Attempt) apiDeliveryDetail {
	out := apiDeliveryDetail{apiDelivery: toAPIDelivery(d), AttemptLog: []apiAttempt{}}
	for _, a := range attempts {
		out.AttemptLog = append(out.AttemptLog, apiAttempt{N: a.N, At: a.At, DurationMS: a.Duration.Milliseconds(), OK: a.OK,
			HTTPStatus: a.HTTPStatus, Code: a.Code, Message: a.Message, RequestID: a.RequestID, Replica: a.Replica})
	}
	return out
}

// handleAPIDeliveryList answers GET /deliveries, newest first, filtered by
// destination_id, mapping_id, status and (an addition to the contract) the
// RFC 3339 times since and until of the deliveries' creation.
func (s *Server) handleAPIDeliveryList(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	f, err := deliveryFilter(c.QueryParams())
	if err != nil {
		return err
	}
	f.Page = p
	ds, next, err := s.db.ListDeliveries(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := listResponse[apiDelivery]{Data: []apiDelivery{}, Next: next}
	for _, d := range ds {
		out.Data = append(out.Data, toAPIDelivery(d))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) handleAPIDeliveryGet(c echo.Context) error {
	d, attempts, err := s.db.DeliveryByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	out := toAPIDeliveryDetail(d, attempts)
	if out.Nulls, err = s.parquetNulls(c.Request().Context(), d); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// handleAPIDeliveryRetry makes a failed or retrying delivery due now and
// answers with it; 409 for any other status.
func (s *Server) handleAPIDeliveryRetry(c echo.Context) error {
	if err := s.retryDelivery(c); err != nil {
		return err
	}
	return s.handleAPIDeliveryGet(c)
}

// apiRetryFailed answers POST /destinations/{id}/retry-failed.
type apiRetryFailed struct {
	Retried int64 `json:"retried"`
}

// handleAPIDestinationRetryFailed makes every failed delivery of a
// destination due now (an addition to the contract).
func (s *Server) handleAPIDestinationRetryFailed(c echo.Context) error {
	_, n, err := s.retryFailed(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiRetryFailed{Retried: n})
}
