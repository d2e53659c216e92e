// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// sliding_window -- sliding-window (im2col) generator for k x k convolutions
// and pooling (FINN node `ConvolutionInputGenerator`, square image, square
// kernel, equal strides, dilation 1, no padding: padding is a separate node).
//
// Input : one image after the other, NHWC order, channels folded by SIMD:
//         for y, for x, for cf (CF = C/SIMD beats of SIMD channels).
// Output: for each output pixel (oy, ox) in row-major order
//   DEPTHWISE = 0: for ky, for kx, for cf  -> exactly FINN's python execution
//                  (qonnx Im2Col, element order (ky, kx, c)) folded by SIMD;
//   DEPTHWISE = 1: for cf, for ky, for kx  -> the channel-group-major order of
//                  FINN's depthwise generator (ConvolutionInputGenerator_dws),
//                  which a following Pool / VVAU with PE = SIMD consumes.
//                  FINN's python execution does not model this order (it
//                  always returns (ky, kx, c)); reorder the reference with
//                  (OH, OW, K*K, CF, SIMD) -> (OH, OW, CF, K*K, SIMD).
// Input pixels beyond the last window (when (IFM_DIM - K) % STRIDE != 0) are
// consumed and dropped, as in FINN.
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis_tready is a register
// (does not depend on the output side combinationally).
//
// Packing (FINN convention): element i of a beat at bits [i*ELEM_W +: ELEM_W],
// element 0 in the LSBs; beat (.., cf) carries channels cf*SIMD .. +SIMD-1.
//
// Implementation: a circular line buffer of BUF_ROWS image rows (one memory,
// IFM_DIM*CF words of SIMD*ELEM_W bits per row, synchronous read).  A signed
// counter D = (complete rows written) - (first row of the current window)
// orders writer and reader: the reader emits a window row when D >= K, the
// writer accepts a beat when D < BUF_ROWS.  With BUF_ROWS >= K + STRIDE the
// next STRIDE rows load while a window row is read, so the generator runs at
// one beat per cycle on the busier side; BUF_ROWS = 2*K + STRIDE - 1 (the
// default) also prefetches the first K rows of the next image during the
// last window row, so consecutive images follow without a gap.
// Latency: first output beat 2 cycles after the K-th input row is complete.
//
// Reset: rst_n synchronous, active low; clears counters and valid bits.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module sliding_window #(
    // Input image height = width in pixels (FINN IFMDim), >= K.
    parameter IFM_DIM = 6,
    // Channels (FINN IFMChannels), >= 1.
    parameter C = 4,
    // Channels per beat, 1 .. C, must divide C.
    parameter SIMD = 2,
    // Kernel height = width (FINN ConvKernelDim), 1 .. IFM_DIM.
    parameter K = 3,
    // Stride in both directions, >= 1.
    parameter STRIDE = 1,
    // Bits per element, >= 1.
    parameter ELEM_W = 1,
    // Output order: 0 = (ky, kx, cf), 1 = (cf, ky, kx) (see header).
    parameter DEPTHWISE = 0,
    // Line-buffer rows, >= K (K .. K+STRIDE-1 throttle the throughput).
    parameter BUF_ROWS = 2 * K + STRIDE - 1
) (
    // Clock and reset
    input  wire                   clk,          // rising edge
    input  wire                   rst_n,        // synchronous, active low

    // AXI-Stream input: SIMD elements per beat
    input  wire [SIMD*ELEM_W-1:0] s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,

    // AXI-Stream output: SIMD elements per beat
    output wire [SIMD*ELEM_W-1:0] m_axis_tdata,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready
);

localparam CF = C / SIMD;                       // beats per pixel
localparam OFM_DIM = (IFM_DIM - K) / STRIDE + 1;
localparam ROW = IFM_DIM * CF;                  // words per image row
localparam DEPTH = BUF_ROWS * ROW;              // buffer words
localparam DW = SIMD * ELEM_W;
localparam A_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;
localparam RP_W = (ROW > 1) ? $clog2(ROW) : 1;
localparam CF_W = (CF > 1) ? $clog2(CF) : 1;
localparam K_W = (K > 1) ? $clog2(K) : 1;
localparam O_W = (OFM_DIM > 1) ? $clog2(OFM_DIM) : 1;
// rows the window top skips at the end of an image
localparam DROP = IFM_DIM - (OFM_DIM - 1) * STRIDE;
localparam D_W = $clog2(IFM_DIM + BUF_ROWS + 1) + 2;
// constants at their widths
localparam [31:0] DEPTH32 = DEPTH;
localparam [31:0] ROW_LAST32 = ROW - 1;
localparam [31:0] ROW32 = ROW;
localparam [31:0] CF_LAST32 = CF - 1;
localparam [31:0] CF32 = CF;
localparam [31:0] K_LAST32 = K - 1;
localparam [31:0] K32 = K;
localparam [31:0] O_LAST32 = OFM_DIM - 1;
localparam [31:0] SCF32 = STRIDE * CF;
localparam [31:0] SROW32 = (STRIDE * ROW) % DEPTH;
localparam [31:0] FROW32 = (DROP * ROW) % DEPTH;
localparam [31:0] STRIDE32 = STRIDE;
localparam [31:0] DROP32 = DROP;
localparam [31:0] BUF_ROWS32 = BUF_ROWS;
localparam [A_W:0]    DEPTH_A = DEPTH32[A_W:0];
localparam [A_W-1:0]  ROW_A = ROW32[A_W-1:0];
localparam [A_W-1:0]  CF_A = CF32[A_W-1:0];
localparam [A_W-1:0]  SCF_A = SCF32[A_W-1:0];
localparam [A_W-1:0]  SROW_A = SROW32[A_W-1:0];
localparam [A_W-1:0]  FROW_A = FROW32[A_W-1:0];
localparam [RP_W-1:0] ROW_LAST = ROW_LAST32[RP_W-1:0];
localparam [CF_W-1:0] CF_LAST = CF_LAST32[CF_W-1:0];
localparam [K_W-1:0]  K_LAST = K_LAST32[K_W-1:0];
localparam [O_W-1:0]  O_LAST = O_LAST32[O_W-1:0];
localparam [D_W-1:0]  K_D = K32[D_W-1:0];
localparam [D_W-1:0]  STRIDE_D = STRIDE32[D_W-1:0];
localparam [D_W-1:0]  DROP_D = DROP32[D_W-1:0];
localparam [D_W-1:0]  BUF_ROWS_D = BUF_ROWS32[D_W-1:0];

initial begin
    if (C < 1 || SIMD < 1 || C % SIMD != 0) begin
        $error("sliding_window: need SIMD dividing C (instance %m)");
        $finish;
    end
    if (K < 1 || IFM_DIM < K || STRIDE < 1 || ELEM_W < 1) begin
        $error("sliding_window: need 1 <= K <= IFM_DIM, STRIDE >= 1, ELEM_W >= 1 (instance %m)");
        $finish;
    end
    if (BUF_ROWS < K) begin
        $error("sliding_window: BUF_ROWS must be >= K (instance %m)");
        $finish;
    end
end

// modular add of two addresses < DEPTH
function [A_W-1:0] add_mod;
    input [A_W-1:0] a;
    input [A_W-1:0] b;
    reg   [A_W:0]   s;
    begin
        s = {1'b0, a} + {1'b0, b};
        if (s >= DEPTH_A)
            s = s - DEPTH_A;
        add_mod = s[A_W-1:0];
    end
endfunction

reg  [DW-1:0] mem [0:DEPTH-1];

// ---------------------------------------------------------------------------
// Row bookkeeping: D = complete rows - first row of the current window
reg  signed [D_W-1:0] d_cnt;
wire row_done;                                  // writer completes a row
wire win_row_adv;                               // reader leaves a window row
wire frame_adv;                                 // ... and it was the last one

// ---------------------------------------------------------------------------
// Writer
reg  [A_W-1:0]  waddr;
reg  [RP_W-1:0] wpos;
reg             s_ready_q;
wire            wr = s_axis_tvalid && s_ready_q;
assign s_axis_tready = s_ready_q;
assign row_done = wr && (wpos == ROW_LAST);

always @(posedge clk) begin
    if (wr) begin
        mem[waddr] <= s_axis_tdata;
        waddr <= add_mod(waddr, {{(A_W-1){1'b0}}, 1'b1});
        wpos <= (wpos == ROW_LAST) ? {RP_W{1'b0}} : wpos + 1'b1;
    end
    if (!rst_n) begin
        waddr <= {A_W{1'b0}};
        wpos <= {RP_W{1'b0}};
    end
end

wire [D_W-1:0] d_inc = {{(D_W-1){1'b0}}, row_done};
wire [D_W-1:0] d_dec = frame_adv ? DROP_D : (win_row_adv ? STRIDE_D : {D_W{1'b0}});
wire signed [D_W-1:0] d_next = d_cnt + d_inc - d_dec;
always @(posedge clk) begin
    d_cnt <= d_next;
    s_ready_q <= (d_next < $signed(BUF_ROWS_D));
    if (!rst_n) begin
        d_cnt <= {D_W{1'b0}};
        s_ready_q <= 1'b0;
    end
end

// ---------------------------------------------------------------------------
// Reader
reg  [CF_W-1:0] cf;
reg  [K_W-1:0]  kx;
reg  [K_W-1:0]  ky;
reg  [O_W-1:0]  ox;
reg  [O_W-1:0]  oy;
reg  [A_W-1:0]  kxo;                            // kx * CF
reg  [A_W-1:0]  pxo;                            // ox * STRIDE * CF
reg  [A_W-1:0]  rrow;                           // buffer address of row (top + ky)
reg  [A_W-1:0]  rtop;                           // buffer address of the window top row
reg  [DW-1:0]   rdata;
reg             rvalid;

wire cf_last = (cf == CF_LAST);
wire kx_last = (kx == K_LAST);
wire ky_last = (ky == K_LAST);
wire ox_last = (ox == O_LAST);
wire oy_last = (oy == O_LAST);

wire en = !rvalid || m_axis_tready;
wire rd = en && (d_cnt >= $signed(K_D));

wire inc_cf, inc_kx, inc_ky, inc_ox;
generate
    if (DEPTHWISE != 0) begin : g_dws
        assign inc_kx = 1'b1;
        assign inc_ky = kx_last;
        assign inc_cf = kx_last && ky_last;
        assign inc_ox = kx_last && ky_last && cf_last;
    end else begin : g_std
        assign inc_cf = 1'b1;
        assign inc_kx = cf_last;
        assign inc_ky = cf_last && kx_last;
        assign inc_ox = cf_last && kx_last && ky_last;
    end
endgenerate
wire inc_oy = inc_ox && ox_last;
assign win_row_adv = rd && inc_oy;
assign frame_adv = rd && inc_oy && oy_last;

wire [A_W-1:0] rtop_next = inc_oy ? add_mod(rtop, oy_last ? FROW_A : SROW_A) : rtop;
wire [A_W-1:0] raddr = rrow + pxo + kxo + {{(A_W-CF_W){1'b0}}, cf};

always @(posedge clk) begin
    if (rd) begin
        rdata <= mem[raddr];
        if (inc_cf) cf <= cf_last ? {CF_W{1'b0}} : cf + 1'b1;
        if (inc_kx) begin
            kx <= kx_last ? {K_W{1'b0}} : kx + 1'b1;
            kxo <= kx_last ? {A_W{1'b0}} : kxo + CF_A;
        end
        if (inc_ky) begin
            ky <= ky_last ? {K_W{1'b0}} : ky + 1'b1;
            rrow <= ky_last ? rtop_next : add_mod(rrow, ROW_A);
        end
        if (inc_ox) begin
            ox <= ox_last ? {O_W{1'b0}} : ox + 1'b1;
            pxo <= ox_last ? {A_W{1'b0}} : pxo + SCF_A;
        end
        if (inc_oy)
            oy <= oy_last ? {O_W{1'b0}} : oy + 1'b1;
        rtop <= rtop_next;
    end
    if (en)
        rvalid <= rd;
    if (!rst_n) begin
        cf <= {CF_W{1'b0}};
        kx <= {K_W{1'b0}};
        ky <= {K_W{1'b0}};
        ox <= {O_W{1'b0}};
        oy <= {O_W{1'b0}};
        kxo <= {A_W{1'b0}};
        pxo <= {A_W{1'b0}};
        rrow <= {A_W{1'b0}};
        rtop <= {A_W{1'b0}};
        rvalid <= 1'b0;
    end
end

assign m_axis_tdata = rdata;
assign m_axis_tvalid = rvalid;

endmodule

`resetall
