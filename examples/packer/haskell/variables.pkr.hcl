variable "vm_name" {
  type = string
}

variable "disk_size" {
  type    = string
  default = "20480"
}

variable "output_dir" {
  type    = string
  default = "/tmp/sandboxer-example-images"
}
