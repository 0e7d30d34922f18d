/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kmod/xdp_object.S — embeds the compiled XDP program (zc_xdp.bpf.o) in
 * libzc, so the library needs no file at run time; the AF_XDP driver opens
 * it with bpf_object__open_mem. Declared in kmod/objects.hpp.
 *
 * The path is relative to the directory the assembler runs in: the build
 * directory, where the kmod/zc_xdp.bpf.o rule writes the object. The
 * symbols are hidden so libzc's version script (zc_*) does not export them.
 */
        .section .rodata
        .balign 8
        .global zc_xdp_object
        .global zc_xdp_object_end
        .hidden zc_xdp_object
        .hidden zc_xdp_object_end
        .type zc_xdp_object, @object
        .type zc_xdp_object_end, @object
zc_xdp_object:
        .incbin "kmod/zc_xdp.bpf.o"
zc_xdp_object_end:
        .size zc_xdp_object, zc_xdp_object_end - zc_xdp_object
        .size zc_xdp_object_end, 0

        .section .note.GNU-stack,"",@progbits
