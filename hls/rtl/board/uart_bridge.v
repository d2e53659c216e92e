// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// uart_bridge -- frames of accelerator beats over a UART byte link.
//
// Sits between the byte streams of uart_rx / uart_tx and the input and output
// streams of an accelerator (hw_bnn_top).  Host protocol (the host side is
// hw_bnn/board/protocol.py); multi-byte fields are little-endian:
//
//   host -> board  0x46 ('F'), then one frame: IN_BEATS beats, each beat as
//                  IN_BYTES = ceil(IN_W/8) bytes, little-endian (bits of the
//                  last byte above IN_W are ignored; send zeros).
//   board -> host  every beat the accelerator outputs, as OUT_BYTES =
//                  ceil(OUT_W/8) bytes, little-endian, zero-extended: OUT_BEATS
//                  beats per frame.
//   host -> board  0x49 ('I'): board -> host 14 bytes of design information:
//                  "HB", IN_W (u16), OUT_W (u16), IN_BEATS (u32), OUT_BEATS (u32).
//   Any other byte between frames is ignored.
//
// Flow control: the UART has none.  The bridge streams each beat into the
// accelerator as soon as its last byte arrives (one beat of buffer while the
// next one is assembled), so the accelerator must take an input beat within
// about one byte time -- true for any hw_bnn design at UART rates.  The host
// waits for the reply of a frame before sending the next one (stop-and-wait);
// a frame's reply may overlap the next frame only when the accelerator can
// buffer it.  Replies are sent in the order requested; an 'I' reply is sent
// between output beats, so it must not be requested while a frame is running.
//
// There is no resynchronisation inside a frame: after a lost byte the host
// resets the board (rst_n).
//
// Reset: rst_n synchronous, active low.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module uart_bridge #(
    // Accelerator input beat width in bits, >= 1.
    parameter IN_W = 32,
    // Accelerator output beat width in bits, >= 1.
    parameter OUT_W = 8,
    // Input beats per frame, >= 1.
    parameter IN_BEATS = 196,
    // Output beats per frame, >= 1 (reported by the 'I' command only).
    parameter OUT_BEATS = 10
) (
    // Clock and reset
    input  wire             clk,        // rising edge
    input  wire             rst_n,      // synchronous, active low

    // Bytes from the host (uart_rx)
    input  wire [7:0]       rx_tdata,
    input  wire             rx_tvalid,
    output wire             rx_tready,

    // Bytes to the host (uart_tx)
    output wire [7:0]       tx_tdata,
    output wire             tx_tvalid,
    input  wire             tx_tready,

    // Beats into the accelerator (its s_axis)
    output wire [IN_W-1:0]  m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready,

    // Beats out of the accelerator (its m_axis)
    input  wire [OUT_W-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,

    // Status
    output wire             in_frame    // receiving a frame
);

localparam IN_BYTES = (IN_W + 7) / 8;
localparam OUT_BYTES = (OUT_W + 7) / 8;
localparam INFO_BYTES = 14;
localparam SEND_BYTES = (OUT_BYTES > INFO_BYTES) ? OUT_BYTES : INFO_BYTES;
localparam IB_W = (IN_BYTES > 1) ? $clog2(IN_BYTES) : 1;
localparam BT_W = (IN_BEATS > 1) ? $clog2(IN_BEATS) : 1;
localparam SB_W = $clog2(SEND_BYTES + 1);

localparam [31:0] IN_W32 = IN_W;
localparam [31:0] OUT_W32 = OUT_W;
localparam [31:0] IN_BEATS32 = IN_BEATS;
localparam [31:0] OUT_BEATS32 = OUT_BEATS;
localparam [31:0] LAST_BYTE32 = IN_BYTES - 1;
localparam [31:0] LAST_BEAT32 = IN_BEATS - 1;
localparam [31:0] OUT_BYTES32 = OUT_BYTES;
localparam [31:0] INFO_BYTES32 = INFO_BYTES;
localparam [IB_W-1:0] LAST_BYTE = LAST_BYTE32[IB_W-1:0];
localparam [BT_W-1:0] LAST_BEAT = LAST_BEAT32[BT_W-1:0];
localparam [SB_W-1:0] N_OUT_BYTES = OUT_BYTES32[SB_W-1:0];
localparam [SB_W-1:0] N_INFO_BYTES = INFO_BYTES32[SB_W-1:0];
// 'I' reply, first byte in the LSBs: "HB", IN_W, OUT_W, IN_BEATS, OUT_BEATS
localparam [8*INFO_BYTES-1:0] INFO = {OUT_BEATS32, IN_BEATS32, OUT_W32[15:0], IN_W32[15:0], 8'h42, 8'h48};

localparam [7:0] CMD_FRAME = 8'h46;     // 'F'
localparam [7:0] CMD_INFO = 8'h49;      // 'I'

initial begin
    if (IN_W < 1 || OUT_W < 1 || IN_BEATS < 1 || OUT_BEATS < 1) begin
        $error("uart_bridge: IN_W, OUT_W, IN_BEATS and OUT_BEATS must be >= 1 (instance %m)");
        $finish;
    end
end

// ---------------------------------------------------------------- host -> accelerator
reg                  frame_q;           // receiving the bytes of a frame
reg  [IB_W-1:0]      byte_idx;
reg  [BT_W-1:0]      beat_idx;
/* verilator lint_off UNUSEDSIGNAL */
reg  [8*IN_BYTES-1:0] asm_q;            // beat being assembled, first byte ends in the LSBs
/* verilator lint_on UNUSEDSIGNAL */
reg                  pending;           // asm_q holds a complete beat not yet in out_q
reg  [IN_W-1:0]      out_q;
reg                  out_v;
reg                  info_req;

// accelerator -> host side (below)
reg  [8*SEND_BYTES-1:0] send_q;         // bytes to send, next one in the LSBs
reg  [SB_W-1:0]         send_left;

wire sending = (send_left != {SB_W{1'b0}});
wire beat_load = !sending && s_axis_tvalid;
wire info_load = !sending && !s_axis_tvalid && info_req;

wire take = rx_tvalid && rx_tready;
wire move = pending && (!out_v || m_axis_tready);
wire beat_done = take && frame_q && byte_idx == LAST_BYTE;

wire [8*IN_BYTES-1:0] asm_next;           // asm_q with the byte taken shifted in at the top
generate
    if (IN_BYTES > 1) begin : g_shift
        assign asm_next = {rx_tdata, asm_q[8*IN_BYTES-1:8]};
    end else begin : g_byte
        assign asm_next = rx_tdata;
    end
endgenerate

always @(posedge clk) begin
    if (take) begin
        if (frame_q) begin
            asm_q <= asm_next;
            if (byte_idx == LAST_BYTE) begin
                byte_idx <= {IB_W{1'b0}};
                beat_idx <= (beat_idx == LAST_BEAT) ? {BT_W{1'b0}} : beat_idx + 1'b1;
                if (beat_idx == LAST_BEAT)
                    frame_q <= 1'b0;
            end else begin
                byte_idx <= byte_idx + 1'b1;
            end
        end else if (rx_tdata == CMD_FRAME) begin
            frame_q <= 1'b1;
        end else if (rx_tdata == CMD_INFO) begin
            info_req <= 1'b1;
        end
    end
    if (move) begin
        out_q <= asm_q[IN_W-1:0];
        out_v <= 1'b1;
    end else if (out_v && m_axis_tready) begin
        out_v <= 1'b0;
    end
    pending <= (pending && !move) || beat_done;
    if (info_load)
        info_req <= 1'b0;
    if (!rst_n) begin
        frame_q <= 1'b0;
        byte_idx <= {IB_W{1'b0}};
        beat_idx <= {BT_W{1'b0}};
        pending <= 1'b0;
        out_v <= 1'b0;
        info_req <= 1'b0;
    end
end

assign rx_tready = !pending;
assign m_axis_tdata = out_q;
assign m_axis_tvalid = out_v;
assign in_frame = frame_q;

// ---------------------------------------------------------------- accelerator -> host
always @(posedge clk) begin
    if (beat_load) begin
        send_q <= {8*SEND_BYTES{1'b0}};              // zero-extended beat
        send_q[OUT_W-1:0] <= s_axis_tdata;
        send_left <= N_OUT_BYTES;
    end else if (info_load) begin
        send_q <= {8*SEND_BYTES{1'b0}};
        send_q[8*INFO_BYTES-1:0] <= INFO;
        send_left <= N_INFO_BYTES;
    end else if (sending && tx_tready) begin
        send_q <= send_q >> 8;
        send_left <= send_left - 1'b1;
    end
    if (!rst_n)
        send_left <= {SB_W{1'b0}};
end

assign s_axis_tready = !sending;
assign tx_tdata = send_q[7:0];
assign tx_tvalid = sending;

endmodule

`resetall
