package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/clusterjoin"
	"github.com/zlayer/zlayer/noderuntime/clusterstate"
	"github.com/zlayer/zlayer/noderuntime/etcdmember"
)

// TokenCmd manages join tokens.
type TokenCmd struct {
	Create TokenCreateCmd `cmd:"" help:"Make a join token (printed once)."`
	Ls     TokenLsCmd     `cmd:"" help:"List join tokens (never their secrets)."`
	Revoke TokenRevokeCmd `cmd:"" help:"Make a join token unusable."`
}

type TokenCreateCmd struct {
	NodeFlags
	Role   string        `default:"agent" enum:"server,agent" help:"What the token joins as (${enum})."`
	TTL    time.Duration `name:"ttl" help:"Expire the token after this long (default: never)."`
	Output string        `short:"o" default:"text" enum:"text,json" help:"Output format (${enum})."`
}

func (c *TokenCreateCmd) Help() string {
	return "Example:\n  zlayer token create --role agent --ttl 24h\n  zlayer join --api https://10.0.0.1:3669 --token \"$(zlayer token create)\""
}

func (c *TokenCreateCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	ttl := ""
	if c.TTL > 0 {
		ttl = c.TTL.String()
	}
	tok, err := cl.CreateToken(ctx, c.Role, ttl)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSON(os.Stdout, tok)
	}
	fmt.Println(tok.Token)
	return nil
}

type TokenLsCmd struct {
	NodeFlags
	Output string `short:"o" default:"table" enum:"table,json" help:"Output format (${enum})."`
}

func (c *TokenLsCmd) Help() string { return "Example:\n  zlayer token ls -o json" }

func (c *TokenLsCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	list, err := cl.Tokens(ctx)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSONList(os.Stdout, list)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tCREATED\tEXPIRES\tSTATE")
	now := time.Now()
	for _, t := range list {
		exp, state := "never", "usable"
		if !t.ExpiresAt.IsZero() {
			exp = t.ExpiresAt.Local().Format(time.DateTime)
			if !now.Before(t.ExpiresAt) {
				state = "expired"
			}
		}
		if !t.RevokedAt.IsZero() {
			state = "revoked"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, t.CreatedAt.Local().Format(time.DateTime), exp, state)
	}
	return tw.Flush()
}

type TokenRevokeCmd struct {
	NodeFlags
	ID string `arg:"" help:"The token's id (the 6 characters after the role, as 'token ls' shows)."`
}

func (c *TokenRevokeCmd) Help() string { return "Example:\n  zlayer token revoke k3x9qa" }

func (c *TokenRevokeCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	if err := cl.RevokeToken(ctx, c.ID); err != nil {
		return err
	}
	fmt.Printf("token %s revoked\n", c.ID)
	return nil
}

// NodesCmd lists the cluster's nodes.
type NodesCmd struct {
	NodeFlags
	Output string `short:"o" default:"table" enum:"table,json" help:"Output format (${enum})."`
}

func (c *NodesCmd) Help() string { return "Example:\n  zlayer nodes\n  zlayer nodes -o json" }

func (c *NodesCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	list, err := cl.Nodes(ctx)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSON(os.Stdout, list)
	}
	printNodes(list)
	return nil
}

func printNodes(list *apitypes.NodeList) {
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tADDRESS\tREPLICAS\tLABELS")
	for _, n := range list.Nodes {
		name := n.Name
		if n.Leader {
			name += " *"
		}
		var labels []string
		for k, v := range n.Labels {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		l := strings.Join(labels, ",")
		if l == "" {
			l = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", name, n.Role, n.State, n.Address, n.Replicas, l)
	}
	_ = tw.Flush()
	fmt.Printf("(* leads etcd) servers: %d, fault tolerance: %d\n", list.Servers, list.FaultTolerance)
	if list.Warning != "" {
		fmt.Println("warning: " + list.Warning)
	}
}

// NodeCmd acts on one node.
type NodeCmd struct {
	Cordon   NodeCordonCmd   `cmd:"" help:"Give the node no new replicas (those it runs stay)."`
	Uncordon NodeUncordonCmd `cmd:"" help:"Let the node take replicas again."`
	Drain    NodeDrainCmd    `cmd:"" help:"Move the node's replicas away, one at a time, each new one ready before the old stops."`
}

type NodeActionCmd struct {
	NodeFlags
	Name string `arg:"" help:"The node's name."`
}

func (c *NodeActionCmd) Help() string { return "Example:\n  zlayer node cordon a1" }

func (c *NodeActionCmd) run(ctx context.Context, action string) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	list, err := cl.NodeAction(ctx, c.Name, action)
	if err != nil {
		return err
	}
	printNodes(list)
	return nil
}

type NodeDrainCmd struct {
	NodeActionCmd
	Wait    bool          `default:"true" negatable:"" help:"Wait until the node runs no replicas."`
	Timeout time.Duration `default:"10m" help:"Give up waiting after this long."`
}

func (c *NodeDrainCmd) Help() string { return "Example:\n  zlayer node drain s3 --timeout 5m" }

func (c *NodeDrainCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	if _, err := cl.NodeAction(ctx, c.Name, "drain"); err != nil {
		return err
	}
	if !c.Wait {
		fmt.Printf("node %s draining\n", c.Name)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	for {
		list, err := cl.Nodes(ctx)
		if err == nil {
			for _, n := range list.Nodes {
				if n.Name == c.Name && n.Replicas == 0 {
					fmt.Printf("node %s drained\n", c.Name)
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s still runs replicas after %s (it stays draining)", c.Name, c.Timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

type NodeCordonCmd struct{ NodeActionCmd }

func (c *NodeCordonCmd) Run(ctx context.Context) error { return c.run(ctx, "cordon") }

type NodeUncordonCmd struct{ NodeActionCmd }

func (c *NodeUncordonCmd) Help() string { return "Example:\n  zlayer node uncordon a1" }

func (c *NodeUncordonCmd) Run(ctx context.Context) error { return c.run(ctx, "uncordon") }

// ClusterCmd is backup and restore of the cluster's state.
type ClusterCmd struct {
	Snapshot SnapshotCmd `cmd:"" help:"Save or restore etcd's snapshot of the cluster's state."`
}

type SnapshotCmd struct {
	Save    SnapshotSaveCmd    `cmd:"" help:"Save a snapshot from a server (through its API)."`
	Restore SnapshotRestoreCmd `cmd:"" help:"Restore a snapshot into this server's data dir (node stopped): it restarts as a new one-server cluster."`
}

type SnapshotSaveCmd struct {
	NodeFlags
	File string `arg:"" help:"File to write (mode 0600)." type:"path"`
}

func (c *SnapshotSaveCmd) Help() string {
	return "Example:\n  zlayer cluster snapshot save /backup/zlayer-$(date +%F).db"
}

func (c *SnapshotSaveCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	tmp := c.File + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	n, err := cl.Snapshot(ctx, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n == 0 {
		err = errors.New("the server sent an empty snapshot")
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, c.File); err != nil {
		return err
	}
	fmt.Printf("snapshot saved to %s (%d bytes)\n", c.File, n)
	return nil
}

type SnapshotRestoreCmd struct {
	DataDir  string `name:"data-dir" env:"ZLAYER_DATA_DIR" default:"/var/lib/zlayer" help:"The server's data directory (its node must be stopped)." type:"path"`
	File     string `arg:"" help:"Snapshot file from 'snapshot save'." type:"existingfile"`
	Force    bool   `help:"Replace the etcd data the server has (it is moved aside, not deleted)."`
	PeerPort int    `name:"etcd-peer-port" default:"2380" help:"The server's etcd peer port, as it serves with."`
}

func (c *SnapshotRestoreCmd) Help() string {
	return `Restores the cluster's state from a snapshot into this server's data dir. The server then starts
as a new cluster of one server holding the snapshot's state; join the other servers again (with new
tokens, after clearing their DATA-DIR/etcd). Agents reconnect by themselves.

Example:
  zlayer cluster snapshot restore --data-dir /var/lib/zlayer --force /backup/zlayer.db
  zlayer serve --data-dir /var/lib/zlayer ...`
}

func (c *SnapshotRestoreCmd) Run(ctx context.Context) error {
	id, err := clusterjoin.LoadIdentity(filepath.Join(c.DataDir, "cluster"))
	if err != nil {
		return fmt.Errorf("%s is not a cluster server's data dir: %w", c.DataDir, err)
	}
	if id.Role != "server" {
		return errors.New("only a server restores a snapshot")
	}
	etcdDir := filepath.Join(c.DataDir, "etcd")
	data := filepath.Join(etcdDir, "data")
	if _, err := os.Stat(data); err == nil {
		if !c.Force {
			return fmt.Errorf("%s holds etcd data: give --force to move it aside and restore", data)
		}
		aside := data + ".before-restore-" + time.Now().UTC().Format("20060102T150405")
		if err := os.Rename(data, aside); err != nil {
			return err
		}
		fmt.Printf("moved the old etcd data to %s\n", aside)
	}
	peer := etcdmember.Config{AdvertiseIP: net.ParseIP(id.Advertise), PeerPort: c.PeerPort}.PeerURL()
	if err := clusterstate.Restore(c.File, data, id.Name, peer); err != nil {
		return err
	}
	fmt.Printf("restored %s into %s; start the node with 'zlayer serve --data-dir %s'\n", c.File, data, c.DataDir)
	// The secrets are in the snapshot sealed; their key never is.
	key := filepath.Join(c.DataDir, "cluster", "secrets.key")
	if _, err := os.Stat(key); err != nil {
		fmt.Fprintf(os.Stderr, "warning: %s is missing: the snapshot's secrets cannot be opened on this server; copy it (mode 0600) from a server of the cluster\n", key)
	}
	return nil
}
