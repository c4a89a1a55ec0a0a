// docker buildx bake targets for ZLayer's images.

variable "TAG" {
  default = "latest"
}

// Path of a prebuilt static frontend binary (make build); empty compiles it
// in a Go stage.
variable "FRONTEND_BINARY" {
  default = ""
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
