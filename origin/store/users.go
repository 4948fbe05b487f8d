package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrConflict means a unique value (such as a username) is taken.
var ErrConflict = errors.New("conflict")

// User is an account.
type User struct {
	ID           int64
	Username     string
	Email        string
	PasswordHash string
	IsStaff      bool
	CreatedAt    string
}

const userCols = "id, username, email, password_hash, is_staff, created_at"

func scanUser(row *sql.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.IsStaff, &u.CreatedAt)
	if err == sql.ErrNoRows {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("load user: %w", err)
	}
	return u, nil
}

// CreateUser inserts a user; ErrConflict when the username is taken
// (compared case-insensitively).
func (s *Store) CreateUser(ctx context.Context, username, email, hash string) (User, error) {
	var u User
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		created := now()
		res, err := tx.ExecContext(ctx, "INSERT INTO users(username, email, password_hash, created_at) VALUES (?, ?, ?, ?)",
			username, email, hash, created)
		if err != nil {
			if IsConstraint(err) {
				return ErrConflict
			}
			return fmt.Errorf("create user: %w", err)
		}
		id, _ := res.LastInsertId()
		u = User{ID: id, Username: username, Email: email, PasswordHash: hash, CreatedAt: created}
		return nil
	})
	return u, err
}

// UserByID returns a user.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	return scanUser(s.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
}

// UserByUsername returns a user by case-insensitive username.
func (s *Store) UserByUsername(ctx context.Context, username string) (User, error) {
	return scanUser(s.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE username = ?", username))
}

// UpdateEmail sets a user's email.
func (s *Store) UpdateEmail(ctx context.Context, id int64, email string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE users SET email = ? WHERE id = ?", email, id)
		if err != nil {
			return fmt.Errorf("update email: %w", err)
		}
		return oneRow(res)
	})
}

// DeleteUser deletes a user and (by cascade) everything they own but
// their orders' history rows are deleted too.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = ?", id)
		if err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		return oneRow(res)
	})
}

// SetPassword replaces a user's password hash and revokes every refresh
// token they hold, in one transaction.
func (s *Store) SetPassword(ctx context.Context, id int64, hash string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = ? WHERE id = ?", hash, id)
		if err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if err := oneRow(res); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
			time.Now().Unix(), id)
		return err
	})
}

// UpsertSuperuser creates a staff account or, when the username exists,
// makes it staff with the new password hash.
func (s *Store) UpsertSuperuser(ctx context.Context, username, hash string) (User, error) {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users(username, email, password_hash, is_staff, created_at)
			VALUES (?, '', ?, 1, ?)
			ON CONFLICT(username) DO UPDATE SET password_hash = excluded.password_hash, is_staff = 1`,
			username, hash, now())
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("create superuser: %w", err)
	}
	return scanUser(s.writer.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE username = ?", username))
}

// AddRefreshToken records an issued refresh token.
func (s *Store) AddRefreshToken(ctx context.Context, jti string, user int64, expires time.Time) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO refresh_tokens(jti, user_id, expires_at) VALUES (?, ?, ?)",
			jti, user, expires.Unix())
		if err != nil {
			return fmt.Errorf("record refresh token: %w", err)
		}
		return nil
	})
}

// RotateRefreshToken revokes oldJTI and records newJTI in one transaction.
// It returns ErrNotFound when oldJTI is unknown, already revoked or expired:
// a refresh token works once.
func (s *Store) RotateRefreshToken(ctx context.Context, oldJTI string, user int64, newJTI string, expires time.Time) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := revoke(ctx, tx, oldJTI, user); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO refresh_tokens(jti, user_id, expires_at) VALUES (?, ?, ?)",
			newJTI, user, expires.Unix())
		return err
	})
}

// RevokeRefreshToken revokes a refresh token (logout); ErrNotFound when it
// was not valid.
func (s *Store) RevokeRefreshToken(ctx context.Context, jti string, user int64) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error { return revoke(ctx, tx, jti, user) })
}

func revoke(ctx context.Context, tx *sql.Tx, jti string, user int64) error {
	t := time.Now().Unix()
	res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
		WHERE jti = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?`, t, jti, user, t)
	if err != nil {
		return fmt.Errorf("revoke refresh token: %w", err)
	}
	return oneRow(res)
}

func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// RefreshTokenActive reports whether a refresh token is recorded, not
// revoked and not expired.
func (s *Store) RefreshTokenActive(ctx context.Context, jti string) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM refresh_tokens
		WHERE jti = ? AND revoked_at IS NULL AND expires_at > ?`, jti, time.Now().Unix()).Scan(&n)
	return n > 0, err
}
