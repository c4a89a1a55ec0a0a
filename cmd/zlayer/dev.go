package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zlayer/zlayer/cmd/internal/devcluster"
)

// DevCmd holds the commands for trying ZLayer out on one machine.
type DevCmd struct {
	Cluster DevClusterCmd `cmd:"" help:"A cluster of zlayer-node containers in Docker, as kind makes one."`
}

type DevClusterCmd struct {
	Up   DevClusterUpCmd   `cmd:"" help:"Make the cluster: a network, a first server, the nodes joining it."`
	Down DevClusterDownCmd `cmd:"" help:"Remove the cluster's containers, their volumes and its network."`
}

// devClusterFlags are the flags up and down share.
type devClusterFlags struct {
	Name   string `default:"zlayer" help:"Cluster name: the network's, and the containers' are NAME-1, NAME-2..."`
	Dir    string `help:"Folder for the cluster's CA, admin token and env file (default: USER-CONFIG-DIR/zlayer/dev-cluster/NAME)." type:"path"`
	Docker string `default:"docker" env:"ZLAYER_DOCKER" help:"The docker CLI (it follows DOCKER_HOST and the current context)."`
}

func (f *devClusterFlags) dir() (string, error) {
	if f.Dir != "" {
		return f.Dir, nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no folder for the dev cluster's files (give --dir): %w", err)
	}
	return filepath.Join(cfg, "zlayer", "dev-cluster", f.Name), nil
}

type DevClusterUpCmd struct {
	devClusterFlags
	Nodes    int           `default:"3" help:"Node containers in all."`
	Servers  int           `default:"1" help:"How many of them are servers (etcd members); the first always is, the rest are agents."`
	Image    string        `default:"zlayer-node" help:"The node image (docker/README.md builds it)."`
	PortBase int           `name:"port-base" help:"Fixed host ports: node I's K-th port (K 0 the API, then --publish's) at PORT-BASE+100*K+I-1. Default: ports Docker picks."`
	Publish  []int         `default:"80,443" help:"Node ports published besides the API's 3669: the ingress ports of your endpoints."`
	Address  string        `default:"127.0.0.1" help:"Host address the ports are published on (\"\" or 0.0.0.0: every address)."`
	Runtime  string        `help:"docker run --runtime of the nodes (e.g. one that drops capabilities the machine lacks; docker/README.md, Limitations)."`
	Timeout  time.Duration `default:"3m" help:"How long the nodes may take to be ready."`
}

func (c *DevClusterUpCmd) Run(ctx context.Context) error {
	dir, err := c.dir()
	if err != nil {
		return err
	}
	cl, err := devcluster.Up(ctx, devcluster.Options{
		Name: c.Name, Nodes: c.Nodes, Servers: c.Servers, Image: c.Image,
		PortBase: c.PortBase, Publish: c.Publish, Address: c.Address, Runtime: c.Runtime,
		Dir: dir, Timeout: c.Timeout, Docker: c.Docker, Log: os.Stderr,
	})
	if err != nil {
		return fmt.Errorf("%w\n(remove what was made with 'zlayer dev cluster down --name %s')", err, c.Name)
	}
	printDevCluster(cl)
	return nil
}

// printDevCluster says how to reach the cluster: the nodes' published ports,
// the API, and the line that points the CLI at it.
func printDevCluster(cl *devcluster.Cluster) {
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tPORTS")
	for _, n := range cl.Nodes {
		ports := make([]int, 0, len(n.Ports))
		for p := range n.Ports {
			ports = append(ports, p)
		}
		sort.Ints(ports)
		var list []string
		for _, p := range ports {
			list = append(list, fmt.Sprintf("%s->%d", n.Ports[p], p))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", n.Name, n.Role, strings.Join(list, " "))
	}
	_ = tw.Flush()
	fmt.Printf("\nAPI %s (CA %s, admin token %s). Point the CLI at it:\n  %s\n  # or: source %s\n",
		cl.APIURL, cl.CAFile, cl.TokenFile, cl.Env(), cl.EnvFile)
	fmt.Printf("Images are per node: docker cp IMAGE.tar %s:/tmp/ && docker exec %s zlayer image import /tmp/IMAGE.tar, on each node.\n",
		cl.Nodes[0].Name, cl.Nodes[0].Name)
}

type DevClusterDownCmd struct {
	devClusterFlags
}

func (c *DevClusterDownCmd) Run(ctx context.Context) error {
	dir, err := c.dir()
	if err != nil {
		return err
	}
	if err := devcluster.Down(ctx, c.Name, dir, c.Docker); err != nil {
		return fmt.Errorf("dev cluster %s: %w", c.Name, err)
	}
	return nil
}
