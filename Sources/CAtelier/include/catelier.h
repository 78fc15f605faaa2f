#ifndef CATELIER_H
#define CATELIER_H

// Must be defined here, before <CL/cl.h>: a cSettings define does not reach
// the Swift importer, which would then see the OpenCL 3.0 API.
#define CL_TARGET_OPENCL_VERSION 120
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <png.h>
#include <turbojpeg.h>
#include <zlib.h>
#include <cblas.h>
#include <cairo/cairo.h>

// LAPACK's symmetric eigensolver, which OpenBLAS carries (Debian's
// libopenblas0 exports it; no lapack header is needed for one routine).
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info);
#include <stddef.h>

// The OpenCL entry points Atelier uses, called through pointers filled by
// atelier_cl_load(). The binary never links libOpenCL, so it starts on
// machines without an ICD loader and simply reports "no OpenCL".
#define ATELIER_CL_FUNCTIONS(X) \
  X(cl_int, GetPlatformIDs, (cl_uint a, cl_platform_id *b, cl_uint *c), (a, b, c)) \
  X(cl_int, GetPlatformInfo, (cl_platform_id a, cl_platform_info b, size_t c, void *d, size_t *e), (a, b, c, d, e)) \
  X(cl_int, GetDeviceIDs, (cl_platform_id a, cl_device_type b, cl_uint c, cl_device_id *d, cl_uint *e), (a, b, c, d, e)) \
  X(cl_int, GetDeviceInfo, (cl_device_id a, cl_device_info b, size_t c, void *d, size_t *e), (a, b, c, d, e)) \
  X(cl_context, CreateContext, (const cl_context_properties *a, cl_uint b, const cl_device_id *c, void (CL_CALLBACK *d)(const char *, const void *, size_t, void *), void *e, cl_int *f), (a, b, c, d, e, f)) \
  X(cl_int, ReleaseContext, (cl_context a), (a)) \
  X(cl_command_queue, CreateCommandQueue, (cl_context a, cl_device_id b, cl_command_queue_properties c, cl_int *d), (a, b, c, d)) \
  X(cl_int, ReleaseCommandQueue, (cl_command_queue a), (a)) \
  X(cl_program, CreateProgramWithSource, (cl_context a, cl_uint b, const char **c, const size_t *d, cl_int *e), (a, b, c, d, e)) \
  X(cl_program, CreateProgramWithBinary, (cl_context a, cl_uint b, const cl_device_id *c, const size_t *d, const unsigned char **e, cl_int *f, cl_int *g), (a, b, c, d, e, f, g)) \
  X(cl_int, BuildProgram, (cl_program a, cl_uint b, const cl_device_id *c, const char *d, void (CL_CALLBACK *e)(cl_program, void *), void *f), (a, b, c, d, e, f)) \
  X(cl_int, GetProgramBuildInfo, (cl_program a, cl_device_id b, cl_program_build_info c, size_t d, void *e, size_t *f), (a, b, c, d, e, f)) \
  X(cl_int, GetProgramInfo, (cl_program a, cl_program_info b, size_t c, void *d, size_t *e), (a, b, c, d, e)) \
  X(cl_int, ReleaseProgram, (cl_program a), (a)) \
  X(cl_kernel, CreateKernel, (cl_program a, const char *b, cl_int *c), (a, b, c)) \
  X(cl_int, ReleaseKernel, (cl_kernel a), (a)) \
  X(cl_int, SetKernelArg, (cl_kernel a, cl_uint b, size_t c, const void *d), (a, b, c, d)) \
  X(cl_int, GetKernelWorkGroupInfo, (cl_kernel a, cl_device_id b, cl_kernel_work_group_info c, size_t d, void *e, size_t *f), (a, b, c, d, e, f)) \
  X(cl_int, EnqueueNDRangeKernel, (cl_command_queue a, cl_kernel b, cl_uint c, const size_t *d, const size_t *e, const size_t *f, cl_uint g, const cl_event *h, cl_event *i), (a, b, c, d, e, f, g, h, i)) \
  X(cl_mem, CreateBuffer, (cl_context a, cl_mem_flags b, size_t c, void *d, cl_int *e), (a, b, c, d, e)) \
  X(cl_int, ReleaseMemObject, (cl_mem a), (a)) \
  X(cl_mem, CreateSubBuffer, (cl_mem a, cl_mem_flags b, cl_buffer_create_type c, const void *d, cl_int *e), (a, b, c, d, e)) \
  X(cl_int, EnqueueWriteBuffer, (cl_command_queue a, cl_mem b, cl_bool c, size_t d, size_t e, const void *f, cl_uint g, const cl_event *h, cl_event *i), (a, b, c, d, e, f, g, h, i)) \
  X(cl_int, EnqueueReadBuffer, (cl_command_queue a, cl_mem b, cl_bool c, size_t d, size_t e, void *f, cl_uint g, const cl_event *h, cl_event *i), (a, b, c, d, e, f, g, h, i)) \
  X(cl_int, EnqueueCopyBuffer, (cl_command_queue a, cl_mem b, cl_mem c, size_t d, size_t e, size_t f, cl_uint g, const cl_event *h, cl_event *i), (a, b, c, d, e, f, g, h, i)) \
  X(cl_int, EnqueueFillBuffer, (cl_command_queue a, cl_mem b, const void *c, size_t d, size_t e, size_t f, cl_uint g, const cl_event *h, cl_event *i), (a, b, c, d, e, f, g, h, i)) \
  X(cl_int, Finish, (cl_command_queue a), (a)) \
  X(cl_int, Flush, (cl_command_queue a), (a)) \
  X(cl_int, WaitForEvents, (cl_uint a, const cl_event *b), (a, b)) \
  X(cl_int, GetEventProfilingInfo, (cl_event a, cl_profiling_info b, size_t c, void *d, size_t *e), (a, b, c, d, e)) \
  X(cl_int, ReleaseEvent, (cl_event a), (a))

#define ATELIER_CL_DECLARE(ret, name, params, args) ret acl##name params;
ATELIER_CL_FUNCTIONS(ATELIER_CL_DECLARE)
#undef ATELIER_CL_DECLARE

/// Loads the OpenCL ICD loader. `path` may be NULL (try libOpenCL.so.1, then
/// libOpenCL.so). Returns 1 on success; on failure returns 0 and writes the
/// reason to `message`. Safe to call repeatedly; the first result is kept.
int atelier_cl_load(const char *path, char *message, size_t message_size);

/// 1 when atelier_cl_load succeeded.
int atelier_cl_loaded(void);

/// 8 independent FMA chains of `iterations` steps on the widest vectors
/// this CPU has; `lanes` receives the vector width. FLOPs performed:
/// iterations * 8 * lanes * 2. The result only defeats dead-code removal.
float atelier_fma_chains(long iterations, float seed, int *lanes);

/// A convolution's geometry for the CPU layout loops (ConvGeometry in Swift).
typedef struct {
  int n, c, h, w, r, s, stride_h, stride_w, pad_h, pad_w, p, q;
} AtelierConv;

void atelier_im2col(const AtelierConv *g, const float *x, float *col, long row_begin, long row_end);
void atelier_col2im(const AtelierConv *g, const float *col, float *x, long c_begin, long c_end);
/// Floats of scratch one worker needs for chunks of `chunk` samples.
long atelier_conv_scratch(const AtelierConv *g, int k, int chunk);
/// Samples [n_begin, n_end) of y (N,K,P,Q) = conv(x (N,C,H,W), w (K,C,R,S)),
/// then the epilogue (see atelier_epilogue; bias and activated may be NULL).
void atelier_conv_forward(const AtelierConv *g, int k, const float *x, const float *w, float *y, int n_begin,
                          int n_end, int chunk, float *scratch, const float *bias, int act, float p,
                          const float *activated);
/// Samples [n_begin, n_end) of dx from dy and w; overwrites them, then
/// applies act(dx + bias[c]) (the forward pass of a transposed convolution).
void atelier_conv_backward_data(const AtelierConv *g, int k, const float *dy, const float *w, float *dx, int n_begin,
                                int n_end, int chunk, float *scratch, const float *bias, int act, float p,
                          const float *activated);
/// dw = beta * dw + the weight gradient of samples [n_begin, n_end).
void atelier_conv_backward_weights(const AtelierConv *g, int k, const float *x, const float *dy, float *dw, float beta,
                                   int n_begin, int n_end, int chunk, float *scratch);
/// Convolutions with a few output pixels in the whole batch (cpu_conv_narrow.c):
/// GEMMs with one side of at most a few rows that read or write each weight
/// once. c[i][j] = a[i] . b[j] for rows [m0, m1) of a (m x len), b (n x len):
void atelier_narrow_dot(long m0, long m1, long n, long len, const float *a, const float *b, float *c);
/// out[j][l] = sum_i coef[i][j] a[i][l] for l in [l0, l1); a (m x len), coef (m x n), out (n x len).
void atelier_narrow_combine_columns(long l0, long l1, long m, long n, long len, const float *a, const float *coef,
                                    float *out);
/// out[i] = beta out[i] + sum_j coef[i][j] b[j] for rows [m0, m1); coef (m x n), b (n x len), out (m x len).
void atelier_narrow_combine_rows(long m0, long m1, long n, long len, const float *coef, const float *b, float beta,
                                 float *out);
/// The pixel-major variant for many input channels (cpu_conv_pixels.c):
/// weights permuted once per call, to (R, S, C, K) (`taps_major`) for the
/// forward pass and to (K, R, S, C) for backward data; weight gradients are
/// left in each worker's scratch at atelier_conv_pixels_weight_offset.
long atelier_conv_pixels_scratch(const AtelierConv *g, int k, int chunk);
long atelier_conv_pixels_weight_offset(const AtelierConv *g, int k, int chunk);
void atelier_conv_pixels_weights(const AtelierConv *g, int k, const float *w, float *wp, float *tmp, int taps_major);
void atelier_conv_pixels_forward(const AtelierConv *g, int k, const float *x, const float *wt, float *y, int n_begin,
                                 int n_end, int chunk, float *scratch, const float *bias, int act, float p,
                          const float *activated);
void atelier_conv_pixels_backward_data(const AtelierConv *g, int k, const float *dy, const float *wp, float *dx,
                                       int n_begin, int n_end, int chunk, float *scratch, const float *bias, int act,
                                       float p, const float *activated);
void atelier_conv_pixels_backward_weights(const AtelierConv *g, int k, const float *x, const float *dy, int n_begin,
                                          int n_end, int chunk, float *scratch);
void atelier_conv_pixels_finish_weights(const AtelierConv *g, const float *dwp, float *dw, float beta, int k_begin,
                                        int k_end);
/// The indirect variant (cpu_conv_indirect.c): a GEMM that reads the image
/// through a table of pointers instead of columns. The weights are packed
/// once per call for the forward pass or the data gradient
/// (atelier_conv_indirect_packed_size floats), the cores taking shares of
/// atelier_conv_indirect_pack_units units, each with
/// atelier_conv_indirect_pack_scratch floats of its own; weight gradients are
/// left in each worker's scratch at atelier_conv_indirect_weight_offset as
/// (R, S, C, K rounded up to 16), finished into (K, C, R, S) by input channel.
enum { ATELIER_CONV_FORWARD = 0, ATELIER_CONV_BACKWARD_DATA = 1, ATELIER_CONV_BACKWARD_WEIGHTS = 2 };
long atelier_conv_indirect_scratch(const AtelierConv *g, int k, int chunk, int pass);
/// Floats of zeros the passes read for taps in the padding (`zeros` below; never written).
long atelier_conv_indirect_zeros(const AtelierConv *g, int k);
long atelier_conv_indirect_weight_offset(const AtelierConv *g, int k, int chunk);
long atelier_conv_indirect_packed_size(const AtelierConv *g, int k);
long atelier_conv_indirect_pack_units(const AtelierConv *g, int k, int pass);
long atelier_conv_indirect_pack_scratch(const AtelierConv *g);
void atelier_conv_indirect_pack(const AtelierConv *g, int k, const float *w, float *packed, int pass, long begin,
                                long end, float *tmp);
void atelier_conv_indirect_forward(const AtelierConv *g, int k, const float *x, const float *packed, float *y,
                                   int n_begin, int n_end, int chunk, float *scratch, const float *zeros,
                                   const float *bias, int act, float p, const float *activated);
void atelier_conv_indirect_backward_data(const AtelierConv *g, int k, const float *dy, const float *packed,
                                         float *dx, int n_begin, int n_end, int chunk, float *scratch,
                                         const float *zeros, const float *bias, int act, float p,
                                         const float *activated);
void atelier_conv_indirect_backward_weights(const AtelierConv *g, int k, const float *x, const float *dy,
                                            int n_begin, int n_end, int chunk, float *scratch, const float *zeros);
void atelier_conv_indirect_finish_weights(const AtelierConv *g, int k, const float *dwp, float *dw, float beta,
                                          long c_begin, long c_end);
/// The three passes of 4x4 convolutions at stride 2 by Winograd's
/// F(2x2, 2x2) over the kernel's stride phases (cpu_conv_winograd.c);
/// `pass` is one of ATELIER_CONV_*. The forward pass's and data gradient's
/// transformed weights (atelier_conv_winograd_packed_size floats) are
/// packed once per call, the cores taking shares of
/// atelier_conv_winograd_pack_units units, each with
/// atelier_conv_winograd_pack_scratch floats of its own.
int atelier_conv_winograd_supported(const AtelierConv *g);
/// Samples per chunk of a pass given at most `chunk`: pieces of work this
/// size keep its GEMMs whole.
int atelier_conv_winograd_chunk(const AtelierConv *g, int k, int chunk, int pass);
/// Multiply-adds a pass's GEMMs perform over the batch (padding included).
double atelier_conv_winograd_multiply_adds(const AtelierConv *g, int k, int pass);
long atelier_conv_winograd_packed_size(const AtelierConv *g, int k, int pass);
long atelier_conv_winograd_scratch(const AtelierConv *g, int k, int chunk, int pass);
long atelier_conv_winograd_pack_units(const AtelierConv *g, int k, int pass);
long atelier_conv_winograd_pack_scratch(const AtelierConv *g, int k, int pass);
void atelier_conv_winograd_pack(const AtelierConv *g, int k, const float *w, float *packed, int pass, long begin,
                                long end, float *tmp);
void atelier_conv_winograd_forward(const AtelierConv *g, int k, const float *x, const float *packed, float *y,
                                   int n_begin, int n_end, int chunk, float *scratch, const float *bias, int act,
                                   float p, const float *activated);
void atelier_conv_winograd_backward_data(const AtelierConv *g, int k, const float *dy, const float *packed, float *dx,
                                         int n_begin, int n_end, int chunk, float *scratch, const float *bias, int act,
                                         float p, const float *activated);
/// The weight gradient (pass ATELIER_CONV_BACKWARD_WEIGHTS) leaves each
/// worker's sums in its scratch at atelier_conv_winograd_weight_offset:
/// atelier_conv_winograd_weight_rows rows of padded(k) floats, added
/// across workers, then finished into dw by input channel.
long atelier_conv_winograd_weight_offset(const AtelierConv *g, int k, int chunk);
long atelier_conv_winograd_weight_rows(const AtelierConv *g);
void atelier_conv_winograd_backward_weights(const AtelierConv *g, int k, const float *x, const float *dy, int n_begin,
                                            int n_end, int chunk, float *scratch);
void atelier_conv_winograd_finish_weights(const AtelierConv *g, int k, const float *m, float *dw, float beta,
                                          long c_begin, long c_end);
/// 3x3 convolutions at stride 1 by Winograd's F(4x4, 3x3) over whole
/// batches (cpu_conv_winograd_3x3.c): the transforms, each over a range of
/// units the cores share; the caller runs one GEMM per transform position.
/// Channel counts are padded to whole vectors (`cp`, `kp`); transformed
/// images are [position][block][cp], kernels [position][k][cp].
int atelier_wino3_supported(const AtelierConv *g);
/// Blocks of 4 outputs along an axis of `size`.
long atelier_wino3_blocks(int size);
/// Rows [r_begin, r_end) of images (channels, h, w) at `src` transposed to
/// (rows, cols, cp) at `dst`, placed at (pad_h, pad_w), zeros elsewhere.
void atelier_wino3_pack(const float *src, int channels, int h, int w, int pad_h, int pad_w, int rows, int cols,
                        int cp, float *dst, long r_begin, long r_end);
/// Units (block, 16 channels) [u_begin, u_end) of the packed images' input transform.
void atelier_wino3_input(const float *xt, int rows, int cols, int bh, int bw, int cp, float *v, long blocks,
                         long u_begin, long u_end);
/// The same for a packed output gradient (4 bh rows, 4 bw columns).
void atelier_wino3_gradient(const float *dyt, int bh, int bw, int kp, float *d, long blocks, long u_begin,
                            long u_end);
/// Channels [16 v_begin, 16 v_end) of y (samples, k, p, q) from the products
/// mm[position][block][ldm], then the epilogue (see atelier_epilogue).
void atelier_wino3_output(const float *mm, long ldm, int k, int p, int q, int samples, float *y, long v_begin,
                          long v_end, const float *bias, int act, float param, const float *activated);
/// Output columns [o_begin, o_end) (at most `ld`) of the transformed
/// kernel w (k, c, 3, 3), `ld` floats a row: [position][c][k], or
/// `transposed` [position][k][c] (the data gradient's); `tmp` holds 9 ld
/// floats per row.
void atelier_wino3_kernel(const float *w, int k, int c, int transposed, float *u, long ld, long o_begin, long o_end,
                          float *tmp);
/// Floats between the positions' matrices of `floats` floats each.
long atelier_wino3_position(long floats);
/// The data gradient's channels [16 v_begin, 16 v_end) of dx (samples, C, H,
/// W) of the convolution g from the GEMMs' products, through `dxt` (per
/// vector of channels: samples x (4 bh + 2) x (4 bw + 2) x 16 floats), then
/// the epilogue.
void atelier_wino3_scatter(const AtelierConv *g, const float *mm, long ldm, int samples, float *dxt, float *dx,
                           long v_begin, long v_end, const float *bias, int act, float param,
                           const float *activated);
/// dw (k, c, 3, 3) = beta dw + the taps from the GEMMs' sums mm[position][k][cp], rows [k_begin, k_end).
void atelier_wino3_finish_weights(const float *mm, int k, int c, int cp, float *dw, float beta, long k_begin,
                                  long k_end);
/// Convolutions at stride 1 with a few channels on one side, computed
/// directly along output rows (cpu_conv_direct.c) from an input already
/// padded (atelier_conv_direct_pad); kernels up to 7 wide.
int atelier_conv_direct_supported(const AtelierConv *g);
/// Units (sample, block of kernels, output row) of the forward pass.
long atelier_conv_direct_rows(const AtelierConv *g, int k);
void atelier_conv_direct_forward(const AtelierConv *g, int k, const float *xp, const float *w, float *y,
                                 long u_begin, long u_end, const float *bias, int act, float param,
                                 const float *activated);
/// Units (block of kernels, c, r) of the weight gradient.
long atelier_conv_direct_weight_units(const AtelierConv *g, int k);
void atelier_conv_direct_weights(const AtelierConv *g, int k, const float *xp, const float *dy, float *dw,
                                 float beta, long u_begin, long u_end);
void atelier_conv_direct_pad(const float *x, int h, int w, int pad_h, int pad_w, float *xp, long r_begin,
                             long r_end);
/// w (k, c, R, S) -> (c, k, R, S) turned half a turn.
void atelier_conv_direct_flip(const AtelierConv *g, int k, const float *w, float *flipped);
/// InstanceNorm's loops, planes [p_begin, p_end) (cpu_instance_norm.c):
/// y and each plane's mean and inverse std; dx and each plane's sums of dy
/// and dy * xhat (`sums`, two per plane).
void atelier_instance_norm_forward(long inner, long channels, int affine, float epsilon, const float *x,
                                   const float *gamma, const float *beta, float *y, float *mean_out,
                                   float *invstd_out, long p_begin, long p_end);
void atelier_instance_norm_backward(long inner, long channels, int affine, const float *x, const float *dy,
                                    const float *gamma, const float *mean, const float *invstd, float *dx,
                                    float *sums, long p_begin, long p_end);
/// Padding's gradient (zeros or reflection), planes [p_begin, p_end) (cpu_pad.c).
void atelier_pad_backward(const float *dy, float *dx, long h, long w, int top, int bottom, int left, int right,
                          int reflect, long p_begin, long p_end);
/// Dense-layer GEMMs on the same register tiles, operands read in place
/// (cpu_gemm_tiles.c): rows [m0, m1) and columns [n0, n1) (multiples of
/// 16) of C are set to A B (A m x k), then the epilogue (see
/// atelier_epilogue, `activated` laid out like C), or to A^T B (A k x m).
void atelier_gemm_tiles_nn(long m0, long m1, long n0, long n1, long k, const float *a, long lda, const float *b,
                           long ldb, float *c, long ldc, const float *bias, int act, float p,
                           const float *activated);
void atelier_gemm_tiles_tn(long m0, long m1, long n0, long n1, long k, const float *a, long lda, const float *b,
                           long ldb, float *c, long ldc);
/// C (m x n) = act(A (m x k) B^T + bias) (B n x k, rows ldb apart, bias
/// per column of C, may be NULL), m a multiple of 16: first A^T packed into
/// panels of 64 columns (panels [p_begin, p_end) per call, m * k floats in
/// all), then C's columns [n0, n1) with `tmp` holding 96 * m floats.
void atelier_gemm_tiles_pack_columns(long m, long k, const float *a, float *packed, long p_begin, long p_end);
void atelier_gemm_tiles_nt(long n0, long n1, long m, long k, const float *b, long ldb, const float *packed, float *c,
                           long ldc, float *tmp, const float *bias, int act, float p);
/// 1 when the CPU runs AVX-512 (cpu_features.c; always 0 when built with
/// -DATELIER_NO_AVX512, which makes the C loops behave as on an AVX2 CPU).
int atelier_cpu_has_avx512(void);
/// Which register tiles the CPU path's GEMMs use (cpu_tiles.h): 1 for the
/// AVX-512 shapes (6x64 and narrower), 0 for 16-column strips of 6x16 that
/// fit AVX2's registers. Follows the CPU unless set; `wide` < 0 restores that.
int atelier_wide_tiles(void);
void atelier_set_wide_tiles(int wide);
/// One input channel (cpu_conv_single.c): y for samples [n_begin, n_end)
/// computed directly, then the epilogue; `scratch` holds
/// atelier_conv_single_scratch floats.
long atelier_conv_single_scratch(const AtelierConv *g);
void atelier_conv_single_forward(const AtelierConv *g, int k, const float *x, const float *w, float *y, int n_begin,
                                 int n_end, float *scratch, const float *bias, int act, float p,
                                 const float *activated);
/// Its weight gradient, with atelier_conv_single_gradient_scratch floats of
/// scratch: dw = beta * dw + the gradient of samples [n_begin, n_end) (beta
/// 0 does not read dw).
long atelier_conv_single_gradient_scratch(const AtelierConv *g, int k);
void atelier_conv_single_backward_weights(const AtelierConv *g, int k, const float *x, const float *dy, float *dw,
                                          float beta, int n_begin, int n_end, float *scratch);
/// Runs task(context, w) for w in [0, workers): worker 0 on the calling
/// thread, the others on the CPU path's pool threads (cpu_pool.c); returns
/// when all are done. Nested calls run in order on the caller.
typedef void (*atelier_task)(void *context, int worker);
void atelier_pool_run(int workers, atelier_task task, void *context);
/// Returns *counter and adds one, atomically: workers taking pieces of work in turn.
long atelier_take_next(long *counter);
/// b += a over n floats.
void atelier_add(long n, const float *a, float *b);
/// OpenBLAS's thread count (its own symbol, declared here as cblas.h may not).
void openblas_set_num_threads(int threads);
void atelier_swap_axes(long a_count, long b_count, long inner, const float *in, float *out, long a_begin, long a_end);

void atelier_channel_reduce(int op, long n, long channels, long inner, float scale, const float *a, const float *b,
                            const float *u, const float *v, float *out, long c_begin, long c_end);

void atelier_channel_affine(long channels, long inner, const float *x, const float *center, const float *scale,
                            const float *shift, float *y, long n_begin, long n_end);
void atelier_batch_norm_grad(long channels, long inner, const float *x, const float *dy, const float *mean,
                             const float *invstd, const float *gamma, const float *dbeta, const float *dgamma,
                             float invm, float *dx, long n_begin, long n_end);

/// Activations of the fused C loops (Activation in Swift).
enum { ATELIER_ACT_IDENTITY = 0, ATELIER_ACT_RELU = 1, ATELIER_ACT_LEAKY_RELU = 2, ATELIER_ACT_SIGMOID = 3,
       ATELIER_ACT_TANH = 4 };

/// y[r * row_stride + c * inner + j] = act(y[...] + bias[c]) over a
/// (rows, channels, inner) region, bias may be NULL; or, with `activated`
/// (laid out like y), y = act'(activated) * y (cpu_epilogue.c).
void atelier_epilogue(long rows, long channels, long inner, long row_stride, float *y, const float *bias, int act,
                      float p, const float *activated);

/// BatchNorm training forward fused with an activation (cpu_batch_norm.c),
/// channels [c_begin, c_end): batch statistics into mean and invstd, running
/// statistics updated, z = act(gamma * invstd * (x - mean) + beta).
void atelier_batch_norm_train(long n, long channels, long inner, const float *x, const float *gamma, const float *beta,
                              float *rmean, float *rvar, float momentum, float eps, int act, float p, float *z,
                              float *mean, float *invstd, long c_begin, long c_end);
/// Its gradient: dx, dgamma, dbeta from x, dz and (unless identity) z; for
/// ReLU and LeakyReLU, given beta (else NULL), from x and beta instead of z.
void atelier_batch_norm_backward(long n, long channels, long inner, const float *x, const float *z, const float *dz,
                                 const float *gamma, const float *beta, const float *mean, const float *invstd,
                                 int act, float p, float *dx, float *dgamma, float *dbeta, long c_begin, long c_end);

/// One Adam step over n floats (see PointwiseOp.adam), vectorised for the
/// CPU it runs on.
void atelier_adam(long n, const float *g, float *p, float *m, float *v,
                  float lr, float b1, float b2, float eps, float c1, float c2);

#endif
