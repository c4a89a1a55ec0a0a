package etcdmember

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// slogCore sends etcd's zap logs to the node's slog logger instead of
// etcd's default of JSON on stderr.
type slogCore struct {
	h     slog.Handler
	attrs []slog.Attr
}

// slogLevel maps etcd's levels. etcd logs at info what an operator reads as
// detail (every raft state change, every snapshot, every peer stream), so
// its info goes to debug and a node at the usual info level shows etcd's
// warnings and errors only; this package logs the member's own milestones
// (started, joined, promoted) at info itself.
func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.InfoLevel:
		return slog.LevelDebug
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// expected are warnings etcd gives of settings this package chose on
// purpose (one port for gRPC and HTTP on a member with no gateway; the
// simple auth token, unused since clients authenticate by certificate):
// at debug, an operator is not told to fix what is not broken.
var expected = map[string]bool{
	"Running http and grpc server on single port. This is not recommended for production.": true,
	"simple token is not cryptographically signed":                                         true,
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{h: c.h, attrs: append(append([]slog.Attr(nil), c.attrs...), attrsOf(fields)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if expected[e.Message] {
		e.Level = zapcore.DebugLevel
	}
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	level := slogLevel(e.Level)
	if expected[e.Message] {
		level = slog.LevelDebug
	}
	r := slog.NewRecord(e.Time, level, e.Message, 0)
	r.AddAttrs(c.attrs...)
	r.AddAttrs(attrsOf(fields)...)
	return c.h.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

func attrsOf(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]slog.Attr, 0, len(enc.Fields))
	for k, v := range enc.Fields {
		out = append(out, slog.Any(k, v))
	}
	return out
}

// zapLogger is a zap logger writing to lg, for etcd's server and client.
func zapLogger(lg *slog.Logger) *zap.Logger {
	return zap.New(&slogCore{h: lg.Handler()})
}
