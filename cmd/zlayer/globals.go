package main

import (
	"io"
	"log/slog"
)

// Globals are the flags every command accepts, embedded once in each face.
type Globals struct {
	LogLevel  string `name:"log-level" env:"ZLAYER_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level (${enum})."`
	LogFormat string `name:"log-format" env:"ZLAYER_LOG_FORMAT" default:"text" enum:"text,json" help:"Log format (${enum})."`
}

func (g *Globals) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(g.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if g.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
