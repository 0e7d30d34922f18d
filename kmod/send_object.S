/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kmod/send_object.S — embeds the compiled XDP program of zc-send's live
 * mode (zc_send.bpf.o, from kmod/zc_send.bpf.c) in the zc-send binary, so
 * the tool needs no file at run time; tools/send_live.cpp opens it with
 * bpf_object__open_mem and declares the two symbols.
 *
 * The path is relative to the directory the assembler runs in: the build
 * directory, where the kmod/zc_send.bpf.o rule writes the object. Make this
 * file's object depend on kmod/zc_send.bpf.o: .incbin is invisible to the
 * compiler's dependency tracking.
 */
        .section .rodata
        .balign 8
        .global zc_send_object
        .global zc_send_object_end
        .hidden zc_send_object
        .hidden zc_send_object_end
        .type zc_send_object, @object
        .type zc_send_object_end, @object
zc_send_object:
        .incbin "kmod/zc_send.bpf.o"
zc_send_object_end:
        .size zc_send_object, zc_send_object_end - zc_send_object
        .size zc_send_object_end, 0

        .section .note.GNU-stack,"",@progbits
