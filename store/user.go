package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Password length limits. bcrypt ignores bytes past 72, so longer passwords
// are refused rather than silently truncated.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
)

// User is a dashboard account.
type User struct {
	ID          string
	Email       string
	CreatedAt   time.Time
	LastLoginAt time.Time
}

// ValidateCredentials checks an email and password for a new account.
func ValidateCredentials(email, password string) error {
	if err := validateEmail(email); err != nil {
		return err
	}
	switch {
	case len(password) < MinPasswordLen:
		return FieldErrorf("password", "Password must be at least %d characters.", MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return FieldErrorf("password", "Password must be at most %d bytes.", MaxPasswordLen)
	}
	return nil
}

func validateEmail(email string) error {
	if email == "" {
		return FieldErrorf("email", "Email is required.")
	}
	if !plainText(email) {
		return FieldErrorf("email", notPlainText, "Email")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return FieldErrorf("email", "%q is not an email address.", email)
	}
	return nil
}

// CreateUser creates a dashboard user. Returns EINVALID for a bad email or
// password and ECONFLICT when the email is taken.
func (db *DB) CreateUser(ctx context.Context, email, password string) (*User, error) {
	return db.insertUser(ctx, email, password, false)
}

// CreateFirstUser creates a user only when no user exists yet, atomically, so
// two setup requests racing cannot both create an administrator. Returns
// ECONFLICT when a user already exists.
func (db *DB) CreateFirstUser(ctx context.Context, email, password string) (*User, error) {
	return db.insertUser(ctx, email, password, true)
}

func (db *DB) insertUser(ctx context.Context, email, password string, onlyFirst bool) (*User, error) {
	email = strings.TrimSpace(email)
	if err := ValidateCredentials(email, password); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	u := &User{ID: NewID("usr"), Email: email, CreatedAt: db.Now()}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	defer tx.Rollback()
	// Both checks run inside the immediate write transaction, so they cannot
	// race with another insert.
	var users, sameEmail int
	if err := tx.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE email = ?) FROM users`, email).
		Scan(&users, &sameEmail); err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	if onlyFirst && users > 0 {
		return nil, Errorf(ECONFLICT, "An administrator already exists.")
	}
	if sameEmail > 0 {
		return nil, &Error{Code: ECONFLICT, Field: "email", Message: "A user with this email already exists."}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)`,
		u.ID, u.Email, string(hash), ms(u.CreatedAt)); err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// CountUsers returns the number of users.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// dummyHash is compared against when the email is unknown, so that a wrong
// email and a wrong password take the same time.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("s3relay-timing-equaliser"), bcrypt.DefaultCost)

// Authenticate checks an email and password. Returns EUNAUTHORIZED, with the
// same message whichever of the two is wrong.
func (db *DB) Authenticate(ctx context.Context, email, password string) (*User, error) {
	var u User
	var hash string
	var created int64
	var last sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT id, email, password_hash, created_at, last_login_at FROM users WHERE email = ?`,
		strings.TrimSpace(email)).Scan(&u.ID, &u.Email, &hash, &created, &last)
	if errors.Is(err, sql.ErrNoRows) {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return nil, Errorf(EUNAUTHORIZED, "Wrong email or password.")
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return nil, Errorf(EUNAUTHORIZED, "Wrong email or password.")
	}
	u.CreatedAt, u.LastLoginAt = fromMS(created), fromNullMS(last)
	return &u, nil
}

// UserByID returns a user. Returns ENOTFOUND when it does not exist.
func (db *DB) UserByID(ctx context.Context, id string) (*User, error) {
	var u User
	var created int64
	var last sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT id, email, created_at, last_login_at FROM users WHERE id = ?`, id).
		Scan(&u.ID, &u.Email, &created, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "User not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	u.CreatedAt, u.LastLoginAt = fromMS(created), fromNullMS(last)
	return &u, nil
}

// ListUsers returns every user, oldest first.
func (db *DB) ListUsers(ctx context.Context) ([]*User, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, email, created_at, last_login_at FROM users ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var us []*User
	for rows.Next() {
		var u User
		var created int64
		var last sql.NullInt64
		if err := rows.Scan(&u.ID, &u.Email, &created, &last); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.CreatedAt, u.LastLoginAt = fromMS(created), fromNullMS(last)
		us = append(us, &u)
	}
	return us, rows.Err()
}
