//! LSQR (Paige and Saunders, 1982), a line-by-line port of `scipy.sparse.linalg.lsqr`
//! (its stopping rules, `damp`, `atol`/`btol`/`conlim` and `iter_lim`), so the iterates and
//! the iteration counts scikit-learn reports (`n_iter_`) are scipy's to rounding.

use super::operator::Centred;
use crate::float::Float;
use crate::{KernelError, StopCheck};

pub struct Lsqr {
    pub x: Vec<f64>,
    pub iterations: usize,
}

fn norm(v: &[f64]) -> f64 {
    // NumPy's norm of a float64 vector: sqrt of the dot product.
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn sign(a: f64) -> f64 {
    if a > 0.0 {
        1.0
    } else if a < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Stable Givens rotation (scipy's `_sym_ortho`).
fn sym_ortho(a: f64, b: f64) -> (f64, f64, f64) {
    if b == 0.0 {
        (sign(a), 0.0, a.abs())
    } else if a == 0.0 {
        (0.0, sign(b), b.abs())
    } else if b.abs() > a.abs() {
        let tau = a / b;
        let s = sign(b) / (1.0 + tau * tau).sqrt();
        let c = s * tau;
        (c, s, b / s)
    } else {
        let tau = b / a;
        let c = sign(a) / (1.0 + tau * tau).sqrt();
        let s = c * tau;
        (c, s, a / c)
    }
}

/// Solves `min ||A x - b||^2 + damp^2 ||x||^2` from `x = 0`.
pub fn lsqr<T: Float>(
    a: &Centred<'_, T>,
    b: &[f64],
    damp: f64,
    atol: f64,
    btol: f64,
    iter_lim: Option<usize>,
    stop: StopCheck,
) -> Result<Lsqr, KernelError> {
    let (m, n) = a.shape();
    let iter_lim = iter_lim.unwrap_or(2 * n);
    let conlim = 1e8;
    let ctol = 1.0 / conlim;
    let eps = f64::EPSILON;
    let mut itn = 0;
    let mut anorm: f64 = 0.0;
    let mut acond;
    let dampsq = damp * damp;
    let mut ddnorm = 0.0;
    let mut res2 = 0.0;
    let mut xnorm;
    let mut xxnorm = 0.0;
    let mut z = 0.0;
    let mut cs2 = -1.0;
    let mut sn2 = 0.0;

    let mut u = b.to_vec();
    let bnorm = norm(b);
    let mut x = vec![0.0; n];
    let mut beta = bnorm;
    let mut v = vec![0.0; n];
    let mut alfa = 0.0;
    if beta > 0.0 {
        u.iter_mut().for_each(|e| *e *= 1.0 / beta);
        a.rmatvec(&u, &mut v, stop)?;
        alfa = norm(&v);
    }
    if alfa > 0.0 {
        v.iter_mut().for_each(|e| *e *= 1.0 / alfa);
    }
    let mut w = v.clone();
    let mut rhobar = alfa;
    let mut phibar = beta;
    if alfa * beta == 0.0 {
        return Ok(Lsqr { x, iterations: 0 });
    }
    let mut av = vec![0.0; m];
    let mut atu = vec![0.0; n];
    while itn < iter_lim {
        itn += 1;
        a.matvec(&v, &mut av, stop)?;
        u.iter_mut()
            .zip(&av)
            .for_each(|(ue, ave)| *ue = ave - alfa * *ue);
        beta = norm(&u);
        if beta > 0.0 {
            u.iter_mut().for_each(|e| *e *= 1.0 / beta);
            anorm = (anorm * anorm + alfa * alfa + beta * beta + dampsq).sqrt();
            a.rmatvec(&u, &mut atu, stop)?;
            v.iter_mut()
                .zip(&atu)
                .for_each(|(ve, ae)| *ve = ae - beta * *ve);
            alfa = norm(&v);
            if alfa > 0.0 {
                v.iter_mut().for_each(|e| *e *= 1.0 / alfa);
            }
        }
        let (rhobar1, psi) = if damp > 0.0 {
            let rhobar1 = (rhobar * rhobar + dampsq).sqrt();
            let cs1 = rhobar / rhobar1;
            let sn1 = damp / rhobar1;
            let psi = sn1 * phibar;
            phibar *= cs1;
            (rhobar1, psi)
        } else {
            (rhobar, 0.0)
        };
        let (cs, sn, rho) = sym_ortho(rhobar1, beta);
        let theta = sn * alfa;
        rhobar = -cs * alfa;
        let phi = cs * phibar;
        phibar *= sn;
        let tau = sn * phi;

        let t1 = phi / rho;
        let t2 = -theta / rho;
        let mut dk_sq = 0.0;
        for ((xe, we), ve) in x.iter_mut().zip(w.iter_mut()).zip(&v) {
            let dk = (1.0 / rho) * *we;
            dk_sq += dk * dk;
            *xe += t1 * *we;
            *we = ve + t2 * *we;
        }
        // NumPy's norm(dk)**2 squares the rounded square root; keep its rounding.
        let dk_norm = dk_sq.sqrt();
        ddnorm += dk_norm * dk_norm;

        let delta = sn2 * rho;
        let gambar = -cs2 * rho;
        let rhs = phi - delta * z;
        let zbar = rhs / gambar;
        xnorm = (xxnorm + zbar * zbar).sqrt();
        let gamma = (gambar * gambar + theta * theta).sqrt();
        cs2 = gambar / gamma;
        sn2 = theta / gamma;
        z = rhs / gamma;
        xxnorm += z * z;

        acond = anorm * f64::sqrt(ddnorm);
        let res1 = phibar * phibar;
        res2 += psi * psi;
        let rnorm = (res1 + res2).sqrt();
        let arnorm = alfa * tau.abs();

        let test1 = rnorm / bnorm;
        let test2 = arnorm / (anorm * rnorm + eps);
        let test3 = 1.0 / (acond + eps);
        let t1 = test1 / (1.0 + anorm * xnorm / bnorm);
        let rtol = btol + atol * anorm * xnorm / bnorm;
        let converged = itn >= iter_lim
            || 1.0 + test3 <= 1.0
            || 1.0 + test2 <= 1.0
            || 1.0 + t1 <= 1.0
            || test3 <= ctol
            || test2 <= atol
            || test1 <= rtol;
        if converged {
            break;
        }
    }
    Ok(Lsqr { x, iterations: itn })
}
