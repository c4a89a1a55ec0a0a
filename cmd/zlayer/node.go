package main

// NodeFlags locate the node API for the client commands.
type NodeFlags struct {
	Host  string `env:"ZLAYER_HOST" default:"/run/zlayer/zlayer.sock" help:"Node API: a unix socket path, or an https URL."`
	Token string `env:"ZLAYER_TOKEN" help:"Bearer token for a TCP node API."`
}
