// Small dense matrix helpers in double precision used by the reference ops (row-major).

namespace Boft.Reference;

/// <summary>Small dense row-major matrix helpers (double precision) used by the reference.</summary>
public static class MatrixReference
{
    /// <summary><c>c = a · b</c> for square n×n matrices.</summary>
    /// <param name="a">Left factor. Shape: [size, size].</param>
    /// <param name="b">Right factor. Shape: [size, size].</param>
    /// <param name="size">n.</param>
    /// <param name="c">Output (must not alias the inputs). Shape: [size, size].</param>
    public static void Multiply(ReadOnlySpan<double> a, ReadOnlySpan<double> b, int size, Span<double> c)
    {
        for (int i = 0; i < size; i++)
        {
            for (int j = 0; j < size; j++)
            {
                double sum = 0;
                for (int t = 0; t < size; t++)
                    sum += a[i * size + t] * b[t * size + j];
                c[i * size + j] = sum;
            }
        }
    }

    /// <summary><c>c = aᵀ</c> for a square n×n matrix.</summary>
    /// <param name="a">Shape: [size, size].</param>
    /// <param name="size">n.</param>
    /// <param name="c">Output (must not alias). Shape: [size, size].</param>
    public static void Transpose(ReadOnlySpan<double> a, int size, Span<double> c)
    {
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++)
                c[j * size + i] = a[i * size + j];
    }

    /// <summary>Inverts a square matrix by Gauss–Jordan elimination with partial pivoting.</summary>
    /// <param name="matrix">Shape: [size, size].</param>
    /// <param name="size">n.</param>
    /// <param name="inverse">Output. Shape: [size, size].</param>
    /// <exception cref="ArithmeticException">The matrix is singular to working precision.</exception>
    public static void Invert(ReadOnlySpan<double> matrix, int size, Span<double> inverse)
    {
        int n = size;
        var work = new double[n * 2 * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
                work[i * 2 * n + j] = matrix[i * n + j];
            work[i * 2 * n + n + i] = 1;
        }
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++)
                if (Math.Abs(work[r * 2 * n + col]) > Math.Abs(work[pivot * 2 * n + col]))
                    pivot = r;
            double p = work[pivot * 2 * n + col];
            if (p == 0 || !double.IsFinite(p))
                throw new ArithmeticException($"Matrix of size {n} is singular (pivot {p} in column {col}).");
            if (pivot != col)
                for (int j = 0; j < 2 * n; j++)
                    (work[col * 2 * n + j], work[pivot * 2 * n + j]) = (work[pivot * 2 * n + j], work[col * 2 * n + j]);
            double inv = 1.0 / p;
            for (int j = 0; j < 2 * n; j++)
                work[col * 2 * n + j] *= inv;
            for (int r = 0; r < n; r++)
            {
                if (r == col)
                    continue;
                double f = work[r * 2 * n + col];
                if (f == 0)
                    continue;
                for (int j = 0; j < 2 * n; j++)
                    work[r * 2 * n + j] -= f * work[col * 2 * n + j];
            }
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                inverse[i * n + j] = work[i * 2 * n + n + j];
    }
}
