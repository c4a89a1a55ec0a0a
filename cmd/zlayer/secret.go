package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/secrets"
)

// SecretCmd groups secret commands.
type SecretCmd struct {
	Create SecretCreateCmd `cmd:"" help:"Create a secret on the node (a cluster node: the cluster's), or give it a new value (from a file or stdin)."`
	Ls     SecretLsCmd     `cmd:"" help:"List the node's (or the cluster's) secrets (never their values)."`
	Rm     SecretRmCmd     `cmd:"" help:"Remove a secret no deployment uses."`
}

// SecretCreateCmd sets a secret. The value never comes from the command
// line, where ps and shell history would show it.
type SecretCreateCmd struct {
	NodeFlags
	Name     string `arg:"" help:"Secret name: lowercase letters and digits, single '-' between them."`
	Stdin    string `arg:"" optional:"" placeholder:"-" help:"- reads the value from stdin."`
	FromFile string `name:"from-file" type:"existingfile" help:"Read the value from this file."`
}

func (c *SecretCreateCmd) Help() string {
	return `The value is taken byte for byte (a trailing newline is kept: use printf, not
echo, or strip it). It is stored encrypted in the node's data dir (a cluster's: in its state,
under a key only its servers hold); a new value
for an existing secret rolls the services using it, the same value rolls
nothing. Services use a secret as a file (secrets: [{name: NAME}], mounted
read-only at /run/secrets/NAME) or as an env value "$S:NAME".

Examples:
  zlayer secret create db-password --from-file ./db-password.txt
  printf %s "$PASSWORD" | zlayer secret create db-password -`
}

func (c *SecretCreateCmd) Validate() error {
	switch {
	case c.Stdin != "" && c.Stdin != "-":
		return errors.New("the value is never given on the command line: use --from-file FILE or - for stdin")
	case c.Stdin == "" && c.FromFile == "":
		return errors.New("give the value with --from-file FILE or - (stdin)")
	case c.Stdin != "" && c.FromFile != "":
		return errors.New("give --from-file FILE or -, not both")
	}
	return nil
}

func (c *SecretCreateCmd) Run(ctx context.Context) error {
	v, err := readSecretValue(c.FromFile, os.Stdin)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	info, err := cl.PutSecret(ctx, c.Name, v)
	if err != nil {
		return err
	}
	fmt.Printf("secret %s: version %d, %d bytes\n", info.Name, info.Version, info.Size)
	if len(info.Rolled) > 0 {
		fmt.Printf("rolling %s\n", strings.Join(info.Rolled, ", "))
	}
	return nil
}

// readSecretValue reads file, or stdin when file is empty, refusing more
// than a secret may hold before anything is sent.
func readSecretValue(file string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	v, err := io.ReadAll(io.LimitReader(r, secrets.MaxValueBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading the value: %w", err)
	case len(v) > secrets.MaxValueBytes:
		return nil, secrets.ErrTooLarge
	case len(v) == 0:
		return nil, secrets.ErrEmpty
	}
	return v, nil
}

// SecretLsCmd lists secrets.
type SecretLsCmd struct {
	NodeFlags
	Output string `short:"o" default:"table" enum:"table,json" help:"Output format (${enum})."`
}

func (c *SecretLsCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	list, err := cl.Secrets(ctx)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSONList(os.Stdout, list)
	}
	return printSecrets(os.Stdout, list, time.Now())
}

func printSecrets(w io.Writer, list []apitypes.SecretInfo, now time.Time) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tVERSION\tCREATED\tUPDATED\tUSED BY")
	for _, s := range list {
		used := "-"
		if len(s.UsedBy) > 0 {
			used = strings.Join(s.UsedBy, ",")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s ago\t%s ago\t%s\n", s.Name, s.Size, s.Version,
			now.Sub(s.CreatedAt).Round(time.Second), now.Sub(s.UpdatedAt).Round(time.Second), used)
	}
	return tw.Flush()
}

// SecretRmCmd removes secrets.
type SecretRmCmd struct {
	NodeFlags
	Names []string `arg:"" help:"Secrets to remove."`
}

func (c *SecretRmCmd) Help() string {
	return `A secret a deployment uses is refused (USED BY in secret ls): its replicas
could not be recreated without it. Remove it from those specs first.`
}

func (c *SecretRmCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	for _, n := range c.Names {
		if err := cl.DeleteSecret(ctx, n); err != nil {
			return err
		}
		fmt.Printf("removed %s\n", n)
	}
	return nil
}
