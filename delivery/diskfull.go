package delivery

import (
	"context"
	"time"

	"github.com/s3relay/s3relay/store"
)

// diskFullRetry is how long the engine waits before writing again to a full
// disk: it neither spins nor gives up.
const diskFullRetry = 5 * time.Second

// finishAttempt records an attempt's outcome. A full disk, or a database out
// of reach, does not lose it:
// the object may already be in S3, and a delivery left "uploading" would
// wait for the next start. It tries again until the disk has room or ctx
// (the uploads' context, cancelled after the shutdown grace) ends; the
// next start then resumes the delivery.
func (e *Engine) finishAttempt(ctx context.Context, id string, out store.AttemptOutcome) error {
	for {
		err := e.db.FinishAttempt(context.WithoutCancel(ctx), id, out)
		if err == nil || store.ErrorCode(err) != store.EUNAVAILABLE || ctx.Err() != nil {
			return err
		}
		e.log.Warn("recording the upload's outcome again later", "delivery", id, "reason", store.ErrorMessage(err))
		select {
		case <-ctx.Done():
		case <-time.After(diskFullRetry):
		}
	}
}
