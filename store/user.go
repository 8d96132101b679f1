package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Password length limits. bcrypt ignores bytes past 72, so longer passwords
// are refused rather than silently truncated.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
	// MaxEmailLen is the longest email address SMTP allows (RFC 5321's path
	// limit less its brackets).
	MaxEmailLen = 254
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
	return validatePassword(password, "password")
}

func validatePassword(password, field string) error {
	switch {
	case len(password) < MinPasswordLen:
		return FieldErrorf(field, "Password must be at least %d characters.", MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return FieldErrorf(field, "Password must be at most %d bytes.", MaxPasswordLen)
	}
	return nil
}

func validateEmail(email string) error {
	if email == "" {
		return FieldErrorf("email", "Email is required.")
	}
	if len(email) > MaxEmailLen {
		return FieldErrorf("email", "Email must be at most %d bytes.", MaxEmailLen)
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
	hash, err := bcrypt.GenerateFromPassword([]byte(password), db.passwordCost())
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	u := &User{ID: NewID("usr"), Email: email, CreatedAt: db.Now()}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	defer tx.Rollback()
	// Both checks run inside the immediate write transaction (on PostgreSQL,
	// with the users table locked), so they cannot race with another insert.
	if err := db.d.lockTable(tx, ctx, "users"); err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	var users, sameEmail int
	if err := tx.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE lower(email) = lower(?)) FROM users`, email).
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

// dummyHashes holds, by bcrypt cost, the hash compared against when the
// email is unknown, so that a wrong email and a wrong password take the
// same time.
var dummyHashes sync.Map

func (db *DB) passwordCost() int {
	if db.PasswordCost == 0 {
		return bcrypt.DefaultCost
	}
	return db.PasswordCost
}

func (db *DB) dummyHash() []byte {
	cost := db.passwordCost()
	if h, ok := dummyHashes.Load(cost); ok {
		return h.([]byte)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("s3relay-timing-equaliser"), cost)
	dummyHashes.Store(cost, h)
	return h
}

// ErrWrongPassword matches (with errors.Is) the error Authenticate returns
// when the email belongs to a user and the password is wrong, so callers can
// tell a real failed password check from an unknown email. Users are shown
// the same message for both.
var ErrWrongPassword = errors.New("wrong password")

// wrongPassword is an EUNAUTHORIZED *Error that also matches ErrWrongPassword.
type wrongPassword struct{ err *Error }

func (w wrongPassword) Error() string        { return w.err.Error() }
func (w wrongPassword) Unwrap() error        { return w.err }
func (w wrongPassword) Is(target error) bool { return target == ErrWrongPassword }

// Authenticate checks an email and password. Returns EUNAUTHORIZED, with the
// same message whichever of the two is wrong; the error of a wrong password
// for an existing user also matches ErrWrongPassword.
func (db *DB) Authenticate(ctx context.Context, email, password string) (*User, error) {
	email = strings.TrimSpace(email)
	if validateEmail(email) != nil {
		// No stored user has such an email, and its shape is no secret:
		// answer without the bcrypt comparison an attacker could make us pay for.
		return nil, Errorf(EUNAUTHORIZED, "Wrong email or password.")
	}
	u, hash, err := db.userWithHash(ctx, `lower(email) = lower(?)`, email)
	if ErrorCode(err) == ENOTFOUND {
		bcrypt.CompareHashAndPassword(db.dummyHash(), []byte(password))
		return nil, Errorf(EUNAUTHORIZED, "Wrong email or password.")
	}
	if err != nil {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return nil, wrongPassword{Errorf(EUNAUTHORIZED, "Wrong email or password.")}
	}
	return u, nil
}

// userWithHash returns the user matching where (one placeholder) and its
// password hash. Returns ENOTFOUND.
func (db *DB) userWithHash(ctx context.Context, where string, arg any) (*User, string, error) {
	var u User
	var hash string
	var created int64
	var last sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT id, email, password_hash, created_at, last_login_at FROM users WHERE `+where, arg).
		Scan(&u.ID, &u.Email, &hash, &created, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", Errorf(ENOTFOUND, "User not found.")
	}
	if err != nil {
		return nil, "", fmt.Errorf("get user: %w", err)
	}
	u.CreatedAt, u.LastLoginAt = fromMS(created), fromNullMS(last)
	return &u, hash, nil
}

// UserByEmail returns the user with an email, whatever its case. Returns
// ENOTFOUND.
func (db *DB) UserByEmail(ctx context.Context, email string) (*User, error) {
	u, _, err := db.userWithHash(ctx, `lower(email) = lower(?)`, strings.TrimSpace(email))
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "No user has the email %q.", strings.TrimSpace(email))
	}
	return u, err
}

// CheckPassword reports whether password is the user's. Returns
// EUNAUTHORIZED (field current_password) when it is not, ENOTFOUND when the
// user does not exist.
func (db *DB) CheckPassword(ctx context.Context, userID, password string) error {
	_, hash, err := db.userWithHash(ctx, `id = ?`, userID)
	if err != nil {
		return err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return &Error{Code: EUNAUTHORIZED, Field: "current_password", Message: "This is not your current password."}
	}
	return nil
}

// SetPassword changes a user's password and ends every session of the user
// but keepSession (the id of the session making the change; "" ends all).
// Returns EINVALID (field password) for a password too short or too long,
// ENOTFOUND when the user does not exist.
func (db *DB) SetPassword(ctx context.Context, userID, password, keepSession string) error {
	if err := validatePassword(password, "password"); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), db.passwordCost())
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, string(hash), userID)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "User not found.")
	}
	keep := ""
	if keepSession != "" {
		keep = hashSecret(keepSession)
	}
	// Whoever knew the old password may hold a session: it ends here.
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id_hash <> ?`, userID, keep); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// DeleteUser removes a user and ends all of the user's sessions. Returns
// ENOTFOUND when the user does not exist and ECONFLICT when it is the last
// user: every user is an administrator, and s3relay must keep one.
func (db *DB) DeleteUser(ctx context.Context, userID string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	defer tx.Rollback()
	// Counted inside the immediate write transaction (on PostgreSQL, with the
	// users table locked): two removals racing cannot both pass and leave no
	// administrator.
	if err := db.d.lockTable(tx, ctx, "users"); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	var users, found int
	if err := tx.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE id = ?) FROM users`, userID).
		Scan(&users, &found); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if found == 0 {
		return Errorf(ENOTFOUND, "User not found.")
	}
	if users <= 1 {
		return Errorf(ECONFLICT, "This is the last administrator: add another user before removing this one.")
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, userID); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	return nil
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
