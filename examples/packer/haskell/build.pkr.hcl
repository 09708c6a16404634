# A stand-in for a real build-VM template: the null builder with a local shell
# step, so the example builds anywhere Packer runs. A real template would use a
# qemu or virtualbox source and provision GHC and cabal.
source "null" "vm" {
  communicator = "none"
}

build {
  sources = ["source.null.vm"]

  provisioner "shell-local" {
    inline = [
      "echo building ${var.vm_name} with a ${var.disk_size} MiB disk",
      "mkdir -p ${var.output_dir}",
      "echo '{\"vm_name\": \"${var.vm_name}\", \"disk_size\": \"${var.disk_size}\"}' > ${var.output_dir}/${var.vm_name}.json",
    ]
  }
}
