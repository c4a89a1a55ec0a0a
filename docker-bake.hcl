// docker buildx bake targets for ZLayer's images.

variable "TAG" {
  default = "latest"
}

// Path (in the context) of the static frontend binary `make build` writes;
// set it empty to compile the binary in a Go stage instead.
variable "FRONTEND_BINARY" {
  default = "bin/zimagefile-frontend"
}

target "frontend" {
  context    = "."
  dockerfile = "docker/Dockerfile.zimagefile"
  target     = "frontend"
  args = {
    BINARY_PATH = FRONTEND_BINARY
  }
  tags = ["zlayer/zimagefile:${TAG}"]
}

// The zlayer-node image (docker/README.md). The default packs prebuilt
// binaries: make build, make tools and docker/node-deps.sh first.
variable "NODE_BINARY" {
  default = "bin/zlayer"
}
variable "NODE_SHIM_BINARY" {
  default = "bin/containerd-shim-zlayer-v1"
}
variable "NODE_LOGGER_BINARY" {
  default = "bin/zlayer-logger"
}
variable "NODE_TOOLS" {
  default = ".cache/tools/bin"
}
variable "NODE_DEPS" {
  default = ".cache/node"
}
variable "NODE_BASE_IMAGE" {
  default = "busybox:latest"
}

target "node" {
  context    = "."
  dockerfile = "docker/Dockerfile.zlayer-node"
  target     = "node"
  args = {
    BINARY_PATH        = NODE_BINARY
    SHIM_BINARY_PATH   = NODE_SHIM_BINARY
    LOGGER_BINARY_PATH = NODE_LOGGER_BINARY
    TOOLS_PATH         = NODE_TOOLS
    NODE_DEPS          = NODE_DEPS
    BASE_IMAGE         = NODE_BASE_IMAGE
  }
  tags = ["zlayer-node:${TAG}", "zlayer/zlayer-node:${TAG}"]
}

// zlayer-node with everything compiled in the build (golang image, Debian
// apt and the Go module proxy reachable from the builder).
target "node-source" {
  inherits = ["node"]
  target   = "node-source"
}

// zlayer (also containerd and ctr), our shim, the runc shim, runc and the
// CNI plugins compiled in the build and written to out/binaries.
target "binaries" {
  context    = "."
  dockerfile = "docker/Dockerfile.zlayer-node"
  target     = "binaries"
  output     = ["type=local,dest=out/binaries"]
}

group "default" {
  targets = ["frontend", "node"]
}
