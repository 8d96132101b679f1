package delivery

import (
	"context"
	"fmt"

	"github.com/s3relay/s3relay/store"
)

// Rekey retries a file that never got a key (its mapping's key template
// gave none for its event when it was sealed): the key is made again with the
// mapping's current settings and the file becomes due. A template that still
// gives no key is an EINVALID error naming key_template, and the file stays
// as it was. The engine needs waking afterwards.
func Rekey(ctx context.Context, db *store.DB, deliveryID string) error {
	d, _, err := db.DeliveryByID(ctx, deliveryID)
	if err != nil {
		return err
	}
	if d.Status != store.StatusFailed || d.LastErrorCode != store.ErrCodeNoKey {
		return store.Errorf(store.ECONFLICT, "Only a failed file that never got a key can be given one.")
	}
	dest, err := db.DestinationByID(ctx, d.DestinationID)
	if err != nil {
		return err
	}
	m, err := db.MappingByID(ctx, d.DestinationID, d.MappingID)
	if err != nil {
		return err
	}
	c, err := Compile(m, dest.Config)
	if err != nil {
		return store.Errorf(store.ECONFLICT, "The file's mapping is not valid (%s): fix it, then retry.", store.ErrorMessage(err))
	}
	// The key is made from the file's first event, as when it was sealed.
	var first *store.Event
	if err := db.DeliveryEvents(ctx, d.ID, 1, func(ev *store.Event) error { first = ev; return nil }); err != nil {
		return err
	}
	if first == nil {
		return store.Errorf(store.ECONFLICT, "The file's events are no longer stored (purged after the retention period), so it cannot be written.")
	}
	msg, err := decodeEvent(first.Body)
	if err != nil {
		return fmt.Errorf("rekey %s: %w", d.ID, err)
	}
	named := *d
	if err := c.nameFile(&named, first, msg); err != nil {
		return store.FieldErrorf("key_template", "The mapping's key template still gives no key for this file's event: %v. Fix the template, then retry.", err)
	}
	err = db.RekeyDelivery(ctx, d.ID, named.Key)
	if store.ErrorCode(err) == store.ECONFLICT && store.ErrorField(err) == "key" {
		// The template names a key already written: never overwrite it.
		err = db.RekeyDelivery(ctx, d.ID, withFileID(named.Key, d.ID))
	}
	return err
}

// RekeyAll retries every file of a destination that never got a key, as
// Rekey does, and returns how many got one. Files whose key still cannot be
// made stay failed.
func RekeyAll(ctx context.Context, db *store.DB, destinationID string) (int64, error) {
	ids, err := db.KeylessDeliveries(ctx, destinationID)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, id := range ids {
		switch err := Rekey(ctx, db, id); {
		case err == nil:
			n++
		case store.ErrorCode(err) != store.EINTERNAL:
			// This file still cannot be named; the others may.
		default:
			return n, err
		}
	}
	return n, nil
}
